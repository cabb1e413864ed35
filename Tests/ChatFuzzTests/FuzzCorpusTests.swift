import ChatCore
import ChatFuzz
import ChatLog
import Foundation
import Testing

/// Replays the committed fuzz corpus through both fuzz targets, so `swift test` runs
/// every seed and every saved regression input through the same code libFuzzer does.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/corpus")

    static var recording: Bool { ProcessInfo.processInfo.environment["RECORD_FUZZ_CORPUS"] == "1" }

    /// Checks (or, with `RECORD_FUZZ_CORPUS=1`, writes) the seed files of one directory.
    static func checkSeeds(_ seeds: [(name: String, bytes: [UInt8])], in directory: String) throws {
        let dir = corpus.appendingPathComponent(directory)
        #expect(Set(seeds.map(\.name)).count == seeds.count, "seed names are unique")
        if recording { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        for seed in seeds {
            let file = dir.appendingPathComponent(seed.name)
            if recording {
                try Data(seed.bytes).write(to: file)
            } else {
                let stored = try? Data(contentsOf: file)
                #expect(stored.map(Array.init) == seed.bytes, "fuzz/corpus/\(directory)/\(seed.name) is stale")
            }
        }
        #expect(!recording, "RECORD_FUZZ_CORPUS=1 rewrote fuzz/corpus/\(directory); unset it")
    }

    @Test("the frame seeds on disk match FuzzSeeds")
    func frameSeeds() throws {
        try Self.checkSeeds(FuzzSeeds.frames, in: "frames")
    }

    @Test("the log-record seeds on disk match FuzzSeeds")
    func logRecordSeeds() throws {
        try Self.checkSeeds(FuzzSeeds.logRecords, in: "log-record")
    }

    @Test("the frame corpus replays through fuzz-frames")
    func replayFrames() throws {
        let count = try FuzzReplay.run([Self.corpus.appendingPathComponent("frames").path]) {
            FrameFuzzer.testOneInput($0)
        }
        #expect(count >= FuzzSeeds.frames.count)
    }

    @Test("the log-record corpus replays through fuzz-log-record")
    func replayLogRecords() throws {
        let count = try FuzzReplay.run([Self.corpus.appendingPathComponent("log-record").path]) {
            LogRecordFuzzer.testOneInput($0)
        }
        #expect(count >= FuzzSeeds.logRecords.count)
    }

    @Test("the seeds reach what they are meant to reach")
    func seedsAreMeaningful() throws {
        // Every request seed is a valid request of its type.
        for seed in FuzzSeeds.requests {
            let text = try #require(String(validating: seed.bytes, as: UTF8.self))
            let envelope = try RequestEnvelope.parse(text).get()
            let type = try #require(RequestType(rawValue: envelope.type))
            #expect((try? Request.parse(type, body: envelope.body, limits: Limits()).get()) != nil, "\(seed.name)")
        }
        #expect(
            Set(
                FuzzSeeds.requests.compactMap { seed in
                    String(validating: seed.bytes, as: UTF8.self).flatMap { try? RequestEnvelope.parse($0).get().type }
                }
            ) == Set(RequestType.allCases.map(\.rawValue))
        )
        // Every framed record seed decodes cleanly.
        for seed in FuzzSeeds.logRecords where seed.name.hasPrefix("record-") || seed.name == "log-all" {
            let scan = seed.bytes.withUnsafeBytes { RecordFraming.scan($0) }
            #expect(scan.problem == nil, "\(seed.name)")
        }
        let snapshot = try #require(FuzzSeeds.logRecords.first { $0.name == "snapshot" })
        let decoded = snapshot.bytes.withUnsafeBytes { SnapshotFormat.decode($0) { _ in } }
        #expect(decoded.records == 9 && decoded.damage == nil && !decoded.badHeader)
    }
}
