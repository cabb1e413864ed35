import ChatConformance
import ChatCore
import Foundation
import Testing

/// The JSON test vectors in conformance/vectors, against an in-process server.
@Suite("Protocol test vectors")
struct VectorTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("conformance/vectors").path

    static var vectors: [ConformanceCase] { (try? Vectors.load(directory: directory)) ?? [] }

    @Test("the vectors load, and there are some")
    func load() throws {
        let cases = try Vectors.load(directory: Self.directory)
        #expect(cases.count >= 7)
    }

    @Test("vector", .timeLimit(.minutes(1)), arguments: vectors)
    func vector(_ testCase: ConformanceCase) async throws {
        try await TestServer.with { server in try await testCase.run(server.context) }
    }

    @Test("WireCheck: a frame the typed values reproduce passes; any other byte order or field does not")
    func wireCheck() {
        let join = #"{"type":"ok","id":"j","room":{"name":"r","topic":"","head":0,"epoch":"e"},"messages":[],"#
        #expect(WireCheck.difference(join + #""limited":false,"reset":false}"#, answering: "join") == nil)
        #expect(WireCheck.difference(join + #""reset":false,"limited":false}"#, answering: "join") != nil)
        #expect(WireCheck.difference(join + #""limited":false}"#, answering: "join") != nil)
        #expect(WireCheck.difference(#"{"type":"ok","id":"s","ts":2,"seq":1}"#, answering: "send") != nil)
        #expect(WireCheck.difference(#"{"type":"ok","id":"s","seq":1,"ts":2}"#, answering: "send") == nil)
        #expect(WireCheck.difference(#"{"type":"read","seq":1,"room":"r"}"#, answering: nil) != nil)
        #expect(WireCheck.difference(#"{"type":"ok","id":"x","any":1}"#, answering: nil) == nil)
    }

    @Test(
        "matching: subsets, placeholders and exact arrays",
        arguments: [
            (#"{"a":1}"#, #"{"a":1,"b":2}"#, true), (#"{"a":1}"#, #"{"a":2}"#, false),
            (#"{"a":"<int>"}"#, #"{"a":5}"#, true), (#"{"a":"<int>"}"#, #"{"a":"5"}"#, false),
            (#"{"a":"<string>"}"#, #"{"a":"x"}"#, true), (#"{"a":"<any>"}"#, #"{"b":1}"#, false),
            (#"{"a":[{"s":1}]}"#, #"{"a":[{"s":1,"t":2}]}"#, true), (#"{"a":[]}"#, #"{"a":[1]}"#, false),
            (#"{"id":null}"#, #"{"id":null,"x":1}"#, true), (#"{"id":null}"#, #"{"id":"1"}"#, false),
        ]
    )
    func matching(_ expected: String, _ actual: String, _ matches: Bool) throws {
        let e = try JSONParser().parse(expected)
        let a = try JSONParser().parse(actual)
        #expect((Vectors.match(e, a, path: "") == nil) == matches)
    }
}
