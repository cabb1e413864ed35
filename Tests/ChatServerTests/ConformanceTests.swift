import ChatConformance
import ChatCore
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
                    requirement.isMet(by: context),
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
            "Liveness and closing", "Durability", "Private rooms", "Files",
        ]
        for c in ConformanceSuite.all { #expect(sections.contains(c.section), "\(c.name): \(c.section)") }
        #expect(Set(ConformanceSuite.all.map(\.name)).count == ConformanceSuite.all.count, "case names are unique")
    }
}

@Suite("Conformance runner")
struct ConformanceRunnerTests {
    @Test("after a case the runner leaves the users' rooms and logs them out")
    func cleanUp() async throws {
        try await TestServer.with { server in
            let context = server.context
            let probe = ConformanceCase("probe", section: "Rooms") { ctx in
                let user = try await ctx.newUser("probe")
                try await ctx.join(user.client, "cleanup_room")
            }
            let result = await Runner.run(probe, context: context, timeout: .seconds(30))
            #expect(result.outcome == .passed)
            let observer = try await context.newUser("observer")
            try await context.join(observer.client, "cleanup_room")
            let members = try expectOK(
                try await observer.client.request("members", ["room": "cleanup_room"]),
                "members"
            )
            let names = members["members"]?.arrayValue?.compactMap { $0.objectValue?["user"]?.stringValue } ?? []
            #expect(names.count == 1, "only the observer is left: \(names)")
        }
    }
}
