import ChatCore
import ChatLog
import ChatServer
import Testing

/// The per-user buckets for reads and membership changes, token idle expiry and the login
/// that races `user passwd` (issue 21), against `HubCore` with a fake clock.
@Suite("Hub limits")
struct HubLimitsTests {
    static let day: Double = 86_400

    static func errors(_ received: [HubHarness.Received]?) -> [String: ErrorCode] {
        var out: [String: ErrorCode] = [:]
        for case .error(let id?, let code) in received ?? [] { out[id] = code }
        return out
    }

    @Test("reads take from a second bucket: history, rooms and members beyond it are rate_limited; time refills it")
    func readRateLimit() {
        var configuration = HubHarness.configuration
        configuration.limits.readPerSec = 1
        configuration.limits.readBurst = 4
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        hub.join(1, "lobby")  // one read token
        hub.received[1] = []
        let lobby = HubHarness.name("lobby")
        for i in 0..<3 { hub.request(1, "h\(i)", .history(room: lobby, before: nil, after: nil, limit: 5)) }
        hub.request(1, "h3", .history(room: lobby, before: nil, after: nil, limit: 5))
        hub.request(1, "r", .rooms)
        hub.request(1, "m", .members(room: lobby))
        #expect(Self.errors(hub.received[1]) == ["h3": .rateLimited, "r": .rateLimited, "m": .rateLimited])
        let refused = hub.core.receive(
            1,
            id: "h4",
            .history(room: lobby, before: nil, after: nil, limit: 5),
            at: hub.now
        )
        guard case .reject(_, _, let error)? = refused.actions.first else {
            Issue.record("expected a refusal, got \(refused.actions)")
            return
        }
        #expect(error.retryAfterMs == 1000, "one token at 1/s is 1000 ms away")
        // Sends use the other bucket.
        hub.request(1, "s", .send(room: lobby, text: "still fine", kind: .text, nonce: nil))
        hub.flush()
        #expect(hub.messages(1) == [1])
        hub.advance(1)
        hub.received[1] = []
        hub.request(1, "r2", .rooms)
        #expect(Self.errors(hub.received[1]).isEmpty)
    }

    @Test("search takes Limits.searchReadCost read tokens, and none when it is refused for the room")
    func searchReadCost() {
        var configuration = HubHarness.configuration
        configuration.limits.readPerSec = 1
        configuration.limits.readBurst = 11
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        hub.join(1, "lobby")  // 10 left
        #expect(Limits.searchReadCost == 5)
        guard case .failure(let notFound) = hub.core.searchScope(1, room: HubHarness.name("nowhere"), at: hub.now)
        else {
            Issue.record("a search of a missing room was not refused")
            return
        }
        #expect(notFound.code == .notFound)
        for _ in 0..<2 {
            guard case .success = hub.core.searchScope(1, room: nil, at: hub.now) else {
                Issue.record("a search within the burst was refused")
                return
            }
        }
        guard case .failure(let error) = hub.core.searchScope(1, room: nil, at: hub.now) else {
            Issue.record("the third search was not rate_limited")
            return
        }
        #expect(error.code == .rateLimited)
        #expect(error.retryAfterMs == 5000, "five tokens at 1/s are 5 s away")
    }

    @Test("pipelined join/leave churn is rate_limited beyond the membership allowance; the room sees no more")
    func joinLeaveChurn() {
        var configuration = HubHarness.configuration
        configuration.membershipChangesPerMinute = 6
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        hub.user(2, "bob")
        hub.join(2, "lobby")  // the room exists: alice's joins create nothing
        hub.received[2] = []
        let lobby = HubHarness.name("lobby")
        for i in 0..<50 {
            hub.request(1, "j\(i)", .join(room: lobby, since: nil, epoch: nil))
            hub.request(1, "l\(i)", .leave(room: lobby))
        }
        hub.flush()
        let announced = (hub.received[2] ?? []).filter { item in
            switch item {
            case .event(.joined), .event(.left): true
            default: false
            }
        }
        #expect(announced.count == 6, "bob saw \(announced.count) joins and leaves")
        let limited = Self.errors(hub.received[1]).values.filter { $0 == .rateLimited }.count
        #expect(limited > 40)
        let changes = hub.records.filter { record in
            switch record {
            case .memberAdded(_, "alice"), .memberRemoved(_, "alice"): true
            default: false
            }
        }
        #expect(changes.count == 6)
        // A join refused for the membership bucket took no read token, and a minute refills it.
        hub.advance(60)
        hub.received[1] = []
        hub.request(1, "again", .join(room: lobby, since: nil, epoch: nil))
        hub.flush()
        #expect(Self.errors(hub.received[1]).isEmpty)
    }

    /// The token alice's registration was answered with.
    static func token(_ hub: HubHarness) -> String { "token-1" }

    @Test("a token unused for more than --token-idle-days is refused on resume like a revoked one, and dropped")
    func tokenIdleExpiry() {
        var configuration = HubHarness.configuration
        configuration.tokenIdleDays = 90
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        #expect(hub.core.state.tokens.count == 1)
        let token = Self.token(hub)
        _ = hub.core.connect(2, address: "10.0.0.2")
        hub.advance(90 * Self.day)
        hub.request(2, "r1", .resume(token: token))
        hub.flush()
        #expect(hub.core.isAuthenticated(2), "a token used 90 days ago still works")
        // That resume was stored (a new day): the clock starts again from it.
        hub.advance(91 * Self.day)
        _ = hub.core.connect(3, address: "10.0.0.3")
        hub.request(3, "r2", .resume(token: token))
        hub.flush()
        #expect(hub.received[3] == [.error(id: "r2", .unauthorized)])
        #expect(!hub.core.isAuthenticated(3))
        #expect(hub.core.state.tokens.isEmpty, "the idle token was not dropped")
        #expect(hub.received[2]?.last == .closed(.sessionRevoked))
    }

    @Test("a token's last use survives a restart (log replay and snapshot), one record per token and day")
    func tokenLastUseSurvivesRestart() throws {
        var configuration = HubHarness.configuration
        configuration.tokenIdleDays = 90
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        let token = Self.token(hub)
        hub.advance(50 * Self.day)
        for conn in ConnID(2)..<5 {
            _ = hub.core.connect(conn, address: "10.0.0.\(conn)")
            hub.request(conn, "r", .resume(token: token))
        }
        hub.flush()
        let uses = hub.records.filter { if case .tokenUsed = $0 { true } else { false } }
        #expect(uses.count == 1, "three resumes on one day stored \(uses.count) records")
        var replayed = ChatState()
        for record in hub.records { replayed.apply(record) }
        var fromSnapshot = ChatState()
        try SnapshotFile.records(of: hub.core.state) { fromSnapshot.apply($0) }
        for state in [replayed, fromSnapshot] {
            var restarted = HubHarness(configuration)
            restarted.core = HubCore(configuration: configuration, state: state)
            restarted.now = hub.now
            restarted.advance(90 * Self.day)  // 140 days after issue, 90 after the last use
            _ = restarted.core.connect(9, address: "10.0.0.9")
            restarted.request(9, "r", .resume(token: token))
            restarted.flush()
            #expect(restarted.core.isAuthenticated(9), "the last use was lost across the restart")
        }
    }

    @Test("a login verified against the old password just before `user passwd` gets no token")
    func loginRacingPasswordChange() throws {
        var hub = HubHarness()
        hub.user(1, "alice")
        _ = hub.core.connect(2, address: "192.0.2.2")
        guard case .verify(let stored) = hub.core.beginLogin(2, id: "l", userKey: "alice", at: hub.now) else {
            Issue.record("login refused")
            return
        }
        #expect(stored == "hash")
        // While the password is hashed off the hub, the operator changes it.
        let plan = try hub.core.admin(.setPassword(name: "alice", passwordHash: "new-hash"), at: hub.now)
        hub.perform(plan.step)
        hub.flush()
        hub.perform(hub.core.finishLogin(2, id: "l", userKey: "alice", verifiedHash: stored, at: hub.now))
        hub.flush()
        #expect(hub.received[2] == [.error(id: "l", .unauthorized)])
        #expect(!hub.core.isAuthenticated(2))
        #expect(hub.core.state.tokens.isEmpty, "a token was issued for the old password")
        // The new password still works.
        _ = hub.core.connect(3, address: "192.0.2.3")
        guard case .verify(let current) = hub.core.beginLogin(3, id: "l", userKey: "alice", at: hub.now) else {
            Issue.record("login refused")
            return
        }
        hub.perform(hub.core.finishLogin(3, id: "l", userKey: "alice", verifiedHash: current, at: hub.now))
        hub.flush()
        #expect(hub.core.isAuthenticated(3))
    }
}
