import ChatServer
import NIOCore
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
