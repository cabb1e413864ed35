import ChatConformance
import Testing

/// The conformance suite (the same cases `chat-conformance` runs by URL),
/// against an in-process server per case.
@Suite("Protocol conformance (in-process)")
struct ConformanceTests {
    @Test("conformance case", .timeLimit(.minutes(2)), arguments: ConformanceSuite.all)
    func conformance(_ testCase: ConformanceCase) async throws {
        try await TestServer.with { server in
            let context = server.context
            if let requirement = testCase.requirement {
                #expect(
                    requirement.isMet(by: context.limits),
                    "test server limits must fit: \(requirement.description)"
                )
            }
            try await testCase.run(context)
        }
    }

    @Test("every case names a contract section")
    func sections() {
        let sections: Set<String> = [
            "Transport", "Three kinds of frame", "Names and text", "Session", "Rooms", "Messages",
            "Liveness and closing", "Durability",
        ]
        for c in ConformanceSuite.all { #expect(sections.contains(c.section), "\(c.name): \(c.section)") }
        #expect(Set(ConformanceSuite.all.map(\.name)).count == ConformanceSuite.all.count, "case names are unique")
    }
}
