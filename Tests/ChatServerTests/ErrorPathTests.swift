import ChatConformance
import ChatCore
import ChatLog
import ChatServer
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Error codes a well-behaved server only gives in particular situations.
@Suite("Error paths")
struct ErrorPathTests {
    /// A store that works until told to fail, then fails every write.
    final class FailingStore: ChatStore {
        let failing = Atomic<Bool>(false)

        func recover() async throws -> ChatState { ChatState() }
        func append(_ records: [LogRecord]) -> UInt64 { 1 }
        func waitDurable(_ lsn: UInt64) async throws {
            if failing.load(ordering: .relaxed) { throw StorageError.io("/dev/full", "disk full (test)") }
        }
        var snapshotDue: Bool { false }
        func snapshot(_ state: ChatState) {}
        func run() async throws { try? await gracefulShutdown() }
    }

    @Test("register on a server with sign-up closed is forbidden")
    func registrationClosed() async throws {
        var configuration = TestServer.conformanceConfiguration
        configuration.registration = .closed
        try await TestServer.with(configuration) { server in
            let client = try await server.context.helloClient()
            let reply = try await client.request("register", ["user": "newcomer", "password": "long enough"])
            try expectError(reply, "forbidden", "register with sign-up closed")
            try expectOK(try await client.request("ping"), "the connection lives on")
        }
    }

    @Test("after a storage failure every change is refused with internal and /healthz says 503")
    func storageFailure() async throws {
        let store = FailingStore()
        try await TestServer.with(TestServer.conformanceConfiguration, store: store) { server in
            let ctx = server.context
            let alice = try await ctx.newUser("alice")
            let room = ctx.unique("disk")
            try await ctx.join(alice.client, room)
            try expectOK(try await alice.client.request("send", ["room": .string(room), "text": "before"]), "send")
            #expect(try await httpStatus(url: server.url, path: "/healthz") == 200)
            store.failing.store(true, ordering: .relaxed)
            let failed = try await alice.client.request(
                "send",
                ["room": .string(room), "text": "lost", "nonce": "n1"]
            )
            try expectError(failed, "internal", "send while the disk fails")
            store.failing.store(false, ordering: .relaxed)
            // The in-memory state may be ahead of the disk now: nothing else is accepted.
            try expectError(
                try await alice.client.request("send", ["room": .string(room), "text": "after"]),
                "internal",
                "send after a storage failure"
            )
            try expectError(
                try await alice.client.request("send", ["room": .string(room), "text": "lost", "nonce": "n1"]),
                "internal",
                "retrying the failed send with its nonce"
            )
            #expect(try await httpStatus(url: server.url, path: "/healthz") == 503)
            // Reads still work, and the failed message was never delivered.
            let history = try expectOK(try await alice.client.request("history", ["room": .string(room)]), "history")
            #expect(seqs(try messageList(history)) == [1])
        }
    }
}
