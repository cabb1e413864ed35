import ChatServer
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// The server's frame reader (it replaced NIOWebSocket's decoder handler to save memory per
/// connection): frames cut at any byte, every length encoding, masks, and the refusals
/// NIOWebSocket's decoder made, at the moment it made them.
@Suite("WebSocket frame reader")
struct WebSocketFrameReaderTests {
    /// A client frame: FIN/RSV bits and opcode in `first`, masked with `key` when given.
    static func frame(
        _ first: UInt8,
        _ payload: [UInt8],
        key: [UInt8]? = [1, 2, 3, 4],
        longLength: Bool = false
    ) -> [UInt8] {
        var bytes = [first]
        let mask: UInt8 = key == nil ? 0 : 0x80
        if payload.count < 126 && !longLength {
            bytes.append(mask | UInt8(payload.count))
        } else if payload.count <= 0xFFFF && !longLength {
            bytes.append(mask | 126)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            bytes.append(mask | 127)
            bytes += (0..<8).reversed().map { UInt8((UInt64(payload.count) >> (8 * UInt64($0))) & 0xFF) }
        }
        guard let key else { return bytes + payload }
        return bytes + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }

    static func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test("frames split at every byte come out whole, unmasked and in order", arguments: [0, 1, 125, 126, 300, 65_536])
    func splitAnywhere(size: Int) throws {
        let payload = (0..<size).map { UInt8($0 % 251) }
        let bytes = Self.frame(0x81, payload) + Self.frame(0x89, [7, 7]) + Self.frame(0x02, [9], key: nil)
        for cut in Set([0, 1, 2, 3, 5, 9, bytes.count / 2, bytes.count - 1]) where cut <= bytes.count {
            var reader = WebSocketFrameReader(maxFrameSize: 70_000)
            var frames: [WebSocketFrame] = []
            reader.append(Self.buffer(Array(bytes[..<cut])))
            while let frame = try reader.next() { frames.append(frame) }
            reader.append(Self.buffer(Array(bytes[cut...])))
            while let frame = try reader.next() { frames.append(frame) }
            #expect(frames.count == 3, "cut at \(cut)")
            guard frames.count == 3 else { continue }
            #expect(frames[0].fin && frames[0].opcode == .text && frames[0].maskKey != nil)
            #expect(Array(frames[0].unmaskedData.readableBytesView) == payload)
            #expect(frames[1].opcode == .ping && Array(frames[1].unmaskedData.readableBytesView) == [7, 7])
            #expect(!frames[2].fin && frames[2].opcode == .binary && frames[2].maskKey == nil)
            #expect(!reader.hasPartialFrame, "nothing is held between frames")
        }
    }

    @Test("a 64-bit length is read, and reserved bits and opcodes pass through for the handler to judge")
    func lengthsAndBits() throws {
        var reader = WebSocketFrameReader(maxFrameSize: 1000)
        reader.append(Self.buffer(Self.frame(0xF3, [1, 2, 3], longLength: true)))
        let frame = try #require(try reader.next())
        #expect(frame.fin && frame.rsv1 && frame.rsv2 && frame.rsv3)
        #expect(frame.opcode == WebSocketOpcode(encodedWebSocketOpcode: 3))
        #expect(Array(frame.unmaskedData.readableBytesView) == [1, 2, 3])
    }

    @Test("a frame over the limit is refused as soon as its length is known, before its payload")
    func tooLarge() throws {
        var reader = WebSocketFrameReader(maxFrameSize: 100)
        let header = Array(Self.frame(0x81, Array(repeating: 0, count: 101)).prefix(4))  // no payload sent
        reader.append(Self.buffer(header))
        #expect(throws: WebSocketFrameReader.Failure.tooLarge) { try reader.next() }
        var exact = WebSocketFrameReader(maxFrameSize: 100)
        exact.append(Self.buffer(Self.frame(0x81, Array(repeating: 0, count: 100))))
        #expect(try exact.next()?.data.readableBytes == 100)
        var huge = WebSocketFrameReader(maxFrameSize: 100)
        huge.append(Self.buffer([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]))  // 2^63
        #expect(throws: WebSocketFrameReader.Failure.tooLarge) { try huge.next() }
    }

    @Test(
        "a fragmented control frame or one over 125 bytes is a protocol error",
        arguments: [(0x09, 3), (0x89, 126), (0x08, 2), (0x8A, 126)]
    )
    func badControlFrames(first: Int, size: Int) throws {
        var reader = WebSocketFrameReader(maxFrameSize: 1000)
        reader.append(Self.buffer(Array(Self.frame(UInt8(first), Array(repeating: 0, count: size)).prefix(4))))
        #expect(throws: WebSocketFrameReader.Failure.badControlFrame) { try reader.next() }
    }

    @Test("an incomplete header or payload waits for more bytes")
    func waits() throws {
        var reader = WebSocketFrameReader(maxFrameSize: 1000)
        let bytes = Self.frame(0x81, Array(repeating: 65, count: 200))
        for end in [1, 2, 3, 4, 7, 8, bytes.count - 1] {
            var partial = WebSocketFrameReader(maxFrameSize: 1000)
            partial.append(Self.buffer(Array(bytes[..<end])))
            #expect(try partial.next() == nil, "\(end) bytes")
            #expect(partial.hasPartialFrame)
        }
        reader.append(Self.buffer(bytes))
        #expect(try reader.next()?.unmaskedData.readableBytes == 200)
        #expect(try reader.next() == nil)
    }
}

/// The reader against NIOWebSocket's own decoder (which it replaced): the same bytes, cut in two
/// at a random place, must give the same frames and the same refusal.
@Suite("WebSocket frame reader against NIOWebSocket's decoder")
struct WebSocketFrameReaderDifferentialTests {
    /// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
    struct Generator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }

        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    }

    enum Outcome: Equatable {
        case tooLarge
        case badControlFrame
        case none
    }

    static let maxFrame = 200

    /// Bytes of a few frames with random header bits, masks, length encodings and lengths
    /// (some over the limit, some declared longer than what follows), or plain random bytes.
    static func input(_ random: inout Generator) -> [UInt8] {
        if random.below(8) == 0 { return (0..<random.below(40)).map { _ in UInt8(random.below(256)) } }
        var bytes: [UInt8] = []
        for _ in 0..<(1 + random.below(4)) {
            bytes.append(UInt8(random.below(256)))
            let masked = random.below(4) != 0
            let length = random.below(10) == 0 ? maxFrame - 2 + random.below(5) : random.below(140)
            let encoding = random.below(6)
            let mask: UInt8 = masked ? 0x80 : 0
            if encoding == 0 && length < 126 {
                bytes.append(mask | UInt8(length))
            } else if encoding < 4 {
                bytes.append(mask | 126)
                bytes += [UInt8(length >> 8), UInt8(length & 0xFF)]
            } else {
                bytes.append(mask | 127)
                bytes += (0..<8).reversed().map { UInt8((UInt64(length) >> (8 * UInt64($0))) & 0xFF) }
            }
            if masked { bytes += (0..<4).map { _ in UInt8(random.below(256)) } }
            bytes += (0..<length).map { _ in UInt8(random.below(256)) }
        }
        if random.below(4) == 0 { bytes.removeLast(random.below(min(bytes.count, 20) + 1)) }
        return bytes
    }

    static func nio(_ chunks: [[UInt8]]) throws -> ([WebSocketFrame], Outcome) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrame)))
        defer { _ = try? channel.finish() }
        var frames: [WebSocketFrame] = []
        for chunk in chunks {
            do {
                try channel.writeInbound(ByteBuffer(bytes: chunk))
            } catch let error as NIOWebSocketError {
                while let frame = try channel.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
                switch error {
                case .invalidFrameLength: return (frames, .tooLarge)
                case .fragmentedControlFrame, .multiByteControlFrameLength: return (frames, .badControlFrame)
                }
            }
            while let frame = try channel.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        }
        return (frames, .none)
    }

    static func reader(_ chunks: [[UInt8]]) -> ([WebSocketFrame], Outcome) {
        var reader = WebSocketFrameReader(maxFrameSize: maxFrame)
        var frames: [WebSocketFrame] = []
        for chunk in chunks {
            reader.append(ByteBuffer(bytes: chunk))
            do {
                while let frame = try reader.next() { frames.append(frame) }
            } catch .tooLarge {
                return (frames, .tooLarge)
            } catch {
                return (frames, .badControlFrame)
            }
        }
        return (frames, .none)
    }

    @Test("2,000 random inputs: the same frames and the same refusal as NIOWebSocket's decoder")
    func sameAsNIO() throws {
        var random = Generator(state: 0x9E37_79B9_7F4A_7C15)
        for index in 0..<2000 {
            let bytes = Self.input(&random)
            let cut = random.below(bytes.count + 1)
            let chunks = [Array(bytes[..<cut]), Array(bytes[cut...])]
            let expected = try Self.nio(chunks)
            let actual = Self.reader(chunks)
            #expect(actual.0 == expected.0, "input \(index): frames differ")
            #expect(actual.1 == expected.1, "input \(index): refusal \(actual.1), NIOWebSocket's \(expected.1)")
            if actual.0 != expected.0 || actual.1 != expected.1 { return }
        }
    }
}
