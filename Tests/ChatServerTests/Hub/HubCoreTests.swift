import ChatCore
import ChatLog
import ChatServer
import Testing

/// The hub's decisions without sockets: a fake clock, a model of the shell (`HubHarness`).
@Suite("Hub core")
struct HubCoreTests {
    static func send(_ room: String, _ text: String, nonce: String? = nil) -> Request {
        .send(room: HubHarness.name(room), text: text, kind: .text, nonce: nonce)
    }

    @Test("sends: the burst passes, the next is rate_limited with retry_after_ms, and time refills the bucket")
    func messageRateLimit() {
        var hub = HubHarness()  // 2 per second, burst 3
        hub.user(1, "alice")
        hub.join(1, "lobby")
        hub.received[1] = []
        for i in 0..<4 { hub.request(1, "s\(i)", Self.send("lobby", "m\(i)")) }
        hub.flush()
        let errors = (hub.received[1] ?? []).compactMap { item -> ErrorCode? in
            if case .error(let id, let code) = item, id == "s3" { return code }
            return nil
        }
        #expect(errors == [.rateLimited])
        #expect(hub.messages(1) == [1, 2, 3])
        let refused = hub.core.receive(1, id: "s4", Self.send("lobby", "again"), at: hub.now)
        guard case .reject(_, _, let error)? = refused.actions.first else {
            Issue.record("expected a refusal, got \(refused.actions)")
            return
        }
        #expect(error.retryAfterMs == 500, "one token at 2/s is 500 ms away")
        hub.advance(0.5)
        hub.request(1, "s5", Self.send("lobby", "after the wait"))
        hub.flush()
        #expect(hub.messages(1) == [1, 2, 3, 4])
        // Typing takes from the same bucket.
        hub.request(1, "t", .typing(room: HubHarness.name("lobby")))
        #expect(hub.received[1]?.last == .error(id: "t", .rateLimited))
    }

    @Test("login throttle: 40 parallel wrong logins get at most the free attempts, the rest rate_limited")
    func parallelLoginsAreThrottled() {
        var configuration = HubHarness.configuration
        configuration.loginFreeAttempts = 5
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        var verified = 0
        var refused = 0
        // Every attempt starts (the password is hashed off the hub) before any finishes.
        for conn in ConnID(100)..<140 {
            _ = hub.core.connect(conn, address: "192.0.2.\(conn)")
            switch hub.core.beginLogin(conn, id: "l", userKey: "alice", at: hub.now) {
            case .verify(let hash):
                #expect(hash == "hash")
                verified += 1
            case .refused(let step):
                guard case .reject(_, _, let error)? = step.actions.first else { continue }
                #expect(error.code == .rateLimited)
                refused += 1
            }
        }
        #expect(verified == 5)
        #expect(refused == 35)
        for conn in ConnID(100)..<105 {
            hub.perform(hub.core.finishLogin(conn, id: "l", userKey: "alice", verifiedHash: nil, at: hub.now))
            #expect(hub.received[conn] == [.error(id: "l", .unauthorized)])
        }
    }

    @Test(
        "login throttle: the delay passes with the fake clock; a success clears the user and gives the address its attempt back"
    )
    func loginThrottleRecovers() {
        var configuration = HubHarness.configuration
        configuration.loginFreeAttempts = 2
        configuration.loginBaseDelay = 1
        var hub = HubHarness(configuration)
        hub.user(1, "alice")
        _ = hub.core.connect(2, address: "198.51.100.1")
        for _ in 0..<2 {
            guard case .verify = hub.core.beginLogin(2, id: "l", userKey: "alice", at: hub.now) else {
                Issue.record("free attempt refused")
                return
            }
            hub.perform(hub.core.finishLogin(2, id: "l", userKey: "alice", verifiedHash: nil, at: hub.now))
        }
        guard case .refused = hub.core.beginLogin(2, id: "l", userKey: "alice", at: hub.now) else {
            Issue.record("third attempt not throttled")
            return
        }
        hub.advance(1.001)
        guard case .verify = hub.core.beginLogin(2, id: "l", userKey: "alice", at: hub.now) else {
            Issue.record("attempt after the delay refused")
            return
        }
        hub.perform(hub.core.finishLogin(2, id: "l", userKey: "alice", verifiedHash: "hash", at: hub.now))
        hub.flush()
        guard case .reply(_, .authenticated(let user, let token, _))? = hub.received[2]?.last else {
            Issue.record("no login reply: \(hub.received[2] ?? [])")
            return
        }
        #expect(user == "alice")
        #expect(token != nil)
        #expect(hub.core.isAuthenticated(2))
        guard case .verify = hub.core.beginLogin(2, id: "l2", userKey: "alice", at: hub.now) else {
            Issue.record("the user's count was not cleared by the success")
            return
        }
    }

    @Test("topic changes take from the message bucket: 2,000 pipelined are throttled after the burst")
    func topicIsThrottled() {
        var hub = HubHarness()  // burst 3
        hub.user(1, "alice")
        hub.join(1, "lobby")
        hub.received[1] = []
        for i in 0..<2000 { hub.request(1, "t\(i)", .topic(room: HubHarness.name("lobby"), topic: "topic \(i)")) }
        hub.flush()
        var accepted = 0
        var limited = 0
        for item in hub.received[1] ?? [] {
            switch item {
            case .reply(_, .ok): accepted += 1
            case .error(_, .rateLimited): limited += 1
            default: break
            }
        }
        #expect(accepted == 3)
        #expect(limited == 1997)
    }

    @Test("a login beyond the token cap revokes the oldest token and ends the sessions that use it")
    func tokenCap() {
        var configuration = HubHarness.configuration
        configuration.maxTokensPerUser = 2
        var hub = HubHarness(configuration)
        hub.user(1, "alice")  // token 1 (register), connection 1 uses it
        for conn in ConnID(2)...3 {
            _ = hub.core.connect(conn, address: "198.51.100.\(conn)")
            guard case .verify = hub.core.beginLogin(conn, id: "l", userKey: "alice", at: hub.now) else {
                Issue.record("login \(conn) throttled")
                return
            }
            hub.advance(1)
            hub.perform(hub.core.finishLogin(conn, id: "l", userKey: "alice", verifiedHash: "hash", at: hub.now))
            hub.flush()
        }
        #expect(hub.core.state.tokens.values.filter { $0 == "alice" }.count == 2)
        #expect(hub.received[1]?.contains(.closed(.sessionRevoked)) == true, "the oldest token's session ends")
        #expect(hub.received[2]?.contains(.closed(.sessionRevoked)) != true)
        #expect(hub.core.isAuthenticated(3))
    }

    @Test("closed sign-up is refused before any password hashing")
    func closedSignUpCostsNoHash() {
        var configuration = HubHarness.configuration
        configuration.registration = .closed
        var hub = HubHarness(configuration)
        _ = hub.core.connect(1, address: "a")
        let step = hub.core.checkRegister(
            1,
            id: "r",
            user: try! TextRules.userName("bob").get(),
            invite: nil,
            at: hub.now
        )
        guard case .reject(_, _, let error)? = step?.actions.first else {
            Issue.record("closed sign-up was not refused up front")
            return
        }
        #expect(error.code == .forbidden)
    }

    @Test("a user name that looks like an existing one (TR39 skeleton, any case) is refused before hashing")
    func lookalikeNames() {
        var hub = HubHarness()
        hub.user(1, "paypal")
        _ = hub.core.connect(2, address: "b")
        for name in ["p\u{0430}ypal", "\u{0440}\u{0430}ypal", "paypa1", "PAYPAI"] {
            let user = try! TextRules.userName(name).get()
            let step = hub.core.checkRegister(2, id: "r", user: user, invite: nil, at: hub.now)
            guard case .reject(_, _, let error)? = step?.actions.first else {
                Issue.record("\(name.unicodeScalars.map { String($0.value, radix: 16) }) was not refused")
                continue
            }
            #expect(error.code == .conflict)
            #expect(error.message.contains("paypal"))
        }
        #expect(
            hub.core.checkRegister(2, id: "r", user: try! TextRules.userName("paypals").get(), invite: nil, at: hub.now)
                == nil
        )
    }

    @Test("join is atomic: a message stored around a join reaches the joiner exactly once, whichever commits first")
    func joinAtomicity() {
        for messageFirst in [false, true] {
            var hub = HubHarness()
            hub.user(1, "alice")
            hub.user(2, "bob")
            hub.join(1, "lobby")
            if messageFirst {
                hub.request(1, "s", Self.send("lobby", "hi"))
                hub.request(2, "j", .join(room: HubHarness.name("lobby"), since: nil, epoch: nil))
            } else {
                hub.request(2, "j", .join(room: HubHarness.name("lobby"), since: nil, epoch: nil))
                hub.request(1, "s", Self.send("lobby", "hi"))
            }
            #expect(hub.subscriptions[2] == nil, "no subscription before the membership is durable")
            hub.flush()
            #expect(hub.messages(2) == [1], "message first: \(messageFirst)")
            #expect(hub.messages(1) == [1])
            #expect(hub.received[1]?.contains(.event(.joined(room: "lobby", user: "bob"))) == true)
        }
    }

    @Test("publish order: messages leave in seq order per room, each room's run together, acks after")
    func publishOrder() {
        var hub = HubHarness(
            ServerConfiguration(
                limits: Limits(maxFrame: 65536, maxText: 4000, historyLimit: 100, ratePerSec: 100, rateBurst: 100)
            )
        )
        hub.user(1, "alice")
        hub.join(1, "a")
        hub.join(1, "b")
        hub.received[1] = []
        var steps: [HubStep] = []
        for (i, room) in ["a", "b", "a", "a", "b"].enumerated() {
            steps.append(hub.core.receive(1, id: "s\(i)", Self.send(room, "m\(i)"), at: hub.now))
        }
        for step in steps { hub.perform(step) }
        // The store reports only the last commit: everything before it is durable too.
        hub.flush()
        let publications = (hub.received[1] ?? []).compactMap { item -> String? in
            if case .event(.message(let m)) = item { return "\(m.room)\(m.seq)" }
            if case .reply(let id, .sent) = item { return id }
            return nil
        }
        #expect(publications == ["a1", "a2", "a3", "b1", "b2", "s0", "s1", "s2", "s3", "s4"])
        var sequencer = PublishSequencer(ChatState())
        let m = { (seq: Int64) in ChatMessage(room: "r", seq: seq, from: "x", text: "", kind: .text, ts: 0) }
        #expect(sequencer.stored(m(2), room: "r").isEmpty, "a hole holds later messages back")
        #expect(sequencer.stored(m(1), room: "r").map(\.seq) == [1, 2])
        #expect(sequencer.head("r") == 2)
    }

    @Test("replies keep request order: a request behind a pending change waits for its ack")
    func repliesInOrder() {
        var hub = HubHarness()
        hub.user(1, "alice")
        hub.join(1, "lobby")
        hub.received[1] = []
        hub.request(1, "topic", .topic(room: HubHarness.name("lobby"), topic: "t"))
        hub.request(1, "hist", .history(room: HubHarness.name("lobby"), before: nil, after: nil, limit: nil))
        hub.request(1, "send", Self.send("lobby", "x"))
        #expect(hub.received[1] ?? [] == [], "nothing answered before the topic is durable")
        hub.flush()
        let ids = (hub.received[1] ?? []).compactMap { item -> String? in
            if case .reply(let id, _) = item { return id }
            return nil
        }
        #expect(ids == ["topic", "hist", "send"])
        #expect(hub.core.awaitedCommit(of: 1) == nil)
    }

    @Test("a storage failure refuses the pending change and every later one; nothing unstored is published")
    func storageFailure() {
        var hub = HubHarness()
        hub.user(1, "alice")
        hub.join(1, "lobby")
        hub.received[1] = []
        hub.request(1, "a", Self.send("lobby", "stored?", nonce: "n1"))
        hub.perform(hub.core.storageFailed(at: hub.now))
        hub.appended = []
        #expect(hub.received[1] == [.error(id: "a", .internal)])
        hub.request(1, "b", Self.send("lobby", "later"))
        #expect(hub.received[1]?.last == .error(id: "b", .internal))
        hub.request(1, "c", Self.send("lobby", "retry", nonce: "n1"))
        #expect(hub.received[1]?.last == .error(id: "c", .internal), "a retry is never acknowledged after a failure")
        hub.request(1, "h", .history(room: HubHarness.name("lobby"), before: nil, after: nil, limit: nil))
        #expect(hub.received[1]?.last == .reply(id: "h", .history(messages: [], more: false)), "reads go on")
    }

    @Test("while storage fails the index gets nothing to write (the log takes freed space first), only the lag")
    func indexWaitsForStorage() {
        var hub = HubHarness()
        hub.user(1, "alice")
        hub.join(1, "lobby")
        hub.request(1, "a", Self.send("lobby", "one"))
        hub.request(1, "b", Self.send("lobby", "two"))
        hub.flush()
        #expect(hub.core.indexBatch(after: [:], limit: 100).messages.count == 2)
        hub.perform(hub.core.storageFailed(at: hub.now))
        let waiting = hub.core.indexBatch(after: [:], limit: 100)
        #expect(waiting.messages.isEmpty && waiting.cursors.isEmpty && waiting.resets.isEmpty)
        #expect(waiting.lag == 2)
        hub.perform(hub.core.storageRecovered(at: hub.now))
        #expect(hub.core.indexBatch(after: [:], limit: 100).messages.count == 2)
    }

    @Test("a nonce retry is acknowledged with the original seq once the original is durable")
    func nonceRetry() {
        var hub = HubHarness()
        hub.user(1, "alice")
        hub.join(1, "lobby")
        hub.received[1] = []
        hub.request(1, "a", Self.send("lobby", "once", nonce: "n"))
        hub.request(1, "b", Self.send("lobby", "once", nonce: "n"))
        #expect(hub.received[1] ?? [] == [])
        hub.flush()
        let acks = (hub.received[1] ?? []).compactMap { item -> String? in
            if case .reply(let id, .sent(let seq, _)) = item { return "\(id)\(seq)" }
            return nil
        }
        #expect(acks == ["a1", "b1"])
        #expect(hub.messages(1) == [1])
    }

    @Test("presence: a user's first connection and last disconnection reach the peers")
    func presence() {
        var hub = HubHarness()
        hub.user(1, "alice")
        hub.user(2, "bob")
        hub.join(1, "lobby")
        hub.join(2, "lobby")
        hub.received[1] = []
        hub.perform(hub.core.disconnect(2))
        #expect(hub.received[1] == [.event(.presence(user: "bob", online: false))])
    }
}
