import ChatCore
import ChatLog

/// The seed corpus of the fuzz targets, as source: `fuzz/corpus/frames/` and
/// `fuzz/corpus/log-record/` hold these inputs (and any regression inputs added later).
/// `RECORD_FUZZ_CORPUS=1 swift test --filter ChatFuzzTests` rewrites the seed files.
enum FuzzSeeds {
    /// Frame seeds: file name → contents.
    static let frames: [(name: String, bytes: [UInt8])] = requests + edgeCases + serverFrames + regressions

    /// Inputs that once crashed a target (see docs/SECURITY.md, "Fuzzing"). The 64 KiB
    /// frame that made the duplicate-key check take seconds is a ChatCore test instead:
    /// as a seed it would make libFuzzer start at 64 KiB inputs, and run slowly.
    static let regressions: [(name: String, bytes: [UInt8])] = utf8([
        // A join reply with head Int64.max, then a history reply: `head + 1` trapped.
        (
            "regress-head-int64-max",
            """
            {"type":"ok","id":"3","room":{"name":"r","head":9223372036854775807},"messages":[]}
            {"type":"ok","id":"4","messages":[{"room":"r","seq":5,"from":"a","text":"b","ts":1}]}
            """
        ),
        // A message of a kind this build does not know, with text: its encoding dropped the text.
        (
            "regress-unknown-kind-text",
            #"{"type":"ok","id":"3","room":{"name":"r","head":1},"messages":[{"room":"r","seq":1,"from":"a","text":"b","kind":"aCtion","ts":1}]}"#
        ),
    ])

    /// One valid request of every type, as in docs/PROTOCOL.md.
    static let requests: [(name: String, bytes: [UInt8])] = utf8([
        ("hello", #"{"type":"hello","id":"1","version":1,"client":"chat-tui/0.1"}"#),
        ("register", #"{"type":"register","id":"2","user":"Hana","password":"correct horse"}"#),
        (
            "register-invite",
            #"{"type":"register","id":"2","user":"Hana","password":"correct horse","invite":"abc"}"#
        ),
        ("login", #"{"type":"login","id":"2","user":"hana","password":"correct horse"}"#),
        ("resume", #"{"type":"resume","id":"2","token":"_zpA5mxe0w2nbRjpEdLuSKrCjwLF66mOgx0i6BVVmqI"}"#),
        ("logout", #"{"type":"logout","id":"9"}"#),
        ("join", #"{"type":"join","id":"3","room":"general"}"#),
        ("join-since", #"{"type":"join","id":"3","room":"general","since":1,"epoch":"8da805d0f63bd590"}"#),
        ("leave", #"{"type":"leave","id":"8","room":"general"}"#),
        ("rooms", #"{"type":"rooms","id":"10"}"#),
        ("members", #"{"type":"members","id":"9","room":"general"}"#),
        ("topic", #"{"type":"topic","id":"11","room":"general","topic":"雑談"}"#),
        ("history-before", #"{"type":"history","id":"5","room":"general","before":3,"limit":1}"#),
        ("history-after", #"{"type":"history","id":"6","room":"general","after":1,"limit":1}"#),
        ("mark-read", #"{"type":"mark_read","id":"12","room":"general","seq":3}"#),
        ("send", #"{"type":"send","id":"4","room":"general","text":"こんにちは","nonce":"hana-0001"}"#),
        (
            "send-action",
            #"{"type":"send","id":"4","room":"general","text":"お茶を入れてくる","kind":"action","nonce":"hana-0002"}"#
        ),
        ("typing", #"{"type":"typing","id":"13","room":"general"}"#),
        ("ping", #"{"type":"ping","id":"14"}"#),
        ("create", #"{"type":"create","id":"20","room":"ops","visibility":"private","topic":"on call"}"#),
        ("invite", #"{"type":"invite","id":"21","room":"ops","user":"健"}"#),
        ("kick", #"{"type":"kick","id":"22","room":"ops","user":"健"}"#),
        ("dm", #"{"type":"dm","id":"23","user":"健"}"#),
        ("send-dm", #"{"type":"send","id":"24","room":"@Hana+健","text":"psst"}"#),
        ("send-reply", #"{"type":"send","id":"25","room":"general","text":"yes","reply_to":3}"#),
        ("edit", #"{"type":"edit","id":"26","room":"general","seq":3,"text":"fixed"}"#),
        ("delete", #"{"type":"delete","id":"27","room":"general","seq":3}"#),
        ("react", #"{"type":"react","id":"28","room":"general","seq":3,"emoji":"👍🏽"}"#),
        ("unreact", #"{"type":"unreact","id":"29","room":"general","seq":3,"emoji":"🎉"}"#),
    ])

    /// What §1.4 and §3 of docs/PROTOCOL.md say about bad frames.
    static let edgeCases: [(name: String, bytes: [UInt8])] =
        utf8([
            ("empty", ""),
            ("not-object", "[1,2,3]"),
            ("no-id", #"{"type":"ping"}"#),
            ("id-too-long", #"{"type":"ping","id":"\#(String(repeating: "x", count: 65))"}"#),
            ("type-not-string", #"{"type":7,"id":"1"}"#),
            ("unknown-type", #"{"type":"dance","id":"1"}"#),
            ("duplicate-key", #"{"type":"ping","id":"1","id":"2"}"#),
            ("trailing", #"{"type":"ping","id":"1"} x"#),
            ("nesting-32", #"{"type":"ping","id":"1","x":\#(nested(31))}"#),
            ("nesting-33", #"{"type":"ping","id":"1","x":\#(nested(32))}"#),
            ("lone-surrogate", #"{"type":"send","id":"1","room":"r","text":"\ud800"}"#),
            ("surrogate-pair", #"{"type":"send","id":"1","room":"r","text":"\ud83d\ude00 \u00e9\n\t\"\\\/"}"#),
            ("int-as-float", #"{"type":"mark_read","id":"1","room":"r","seq":1.0}"#),
            ("int-exponent", #"{"type":"mark_read","id":"1","room":"r","seq":1e0}"#),
            ("int-overflow", #"{"type":"mark_read","id":"1","room":"r","seq":9223372036854775808}"#),
            ("int-min", #"{"type":"join","id":"1","room":"r","since":-9223372036854775808}"#),
            ("huge-number", #"{"type":"hello","id":"1","version":1e999999,"client":null}"#),
            ("control-in-string", "{\"type\":\"ping\",\"id\":\"a\u{1}b\"}"),
            ("bidi-override", #"{"type":"send","id":"1","room":"r","text":"a\u202eb"}"#),
            ("name-nfd", #"{"type":"join","id":"1","room":"Cafe\u0301"}"#),
            ("name-mark-first", #"{"type":"join","id":"1","room":"\u0301abc"}"#),
            ("name-space", #"{"type":"register","id":"1","user":"a b","password":"12345678"}"#),
            ("password-short", #"{"type":"login","id":"1","user":"ß","password":"1234567"}"#),
            ("history-both", #"{"type":"history","id":"1","room":"r","before":5,"after":1}"#),
            ("null-optional", #"{"type":"join","id":"1","room":"r","since":null,"epoch":null}"#),
            ("kind-bad", #"{"type":"send","id":"1","room":"r","text":"hi","kind":"shout"}"#),
            ("literals", #" { "type" : "ping" , "id" : "1" , "a" : [ true , false , null , -0 , 0.5e-3 ] } "#),
        ]) + [
            ("invalid-utf8", Array(#"{"type":"ping","id":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)),
            ("overlong-utf8", [0x22, 0xC0, 0xAF, 0x22]),
        ]

    /// Frames a client receives; several lines are fed to one session in order.
    static let serverFrames: [(name: String, bytes: [UInt8])] = utf8([
        (
            "s-hello-ok",
            #"{"type":"ok","id":"1","server":"chat-server/0.1.0","version":1,"limits":{"max_frame":65536,"max_text":4000,"history_limit":500,"rate_per_sec":10,"rate_burst":20}}"#
        ),
        (
            "s-error-rate",
            #"{"type":"error","id":"27","code":"rate_limited","message":"slow down","retry_after_ms":95}"#
        ),
        (
            "s-error-null-id",
            #"{"type":"error","id":null,"code":"bad_request","message":"frame must be a JSON object"}"#
        ),
        ("s-presence", #"{"type":"presence","user":"健","online":true}"#),
        ("s-topic", #"{"type":"topic","room":"general","topic":"雑談","by":"Hana"}"#),
        (
            "s-session",
            """
            {"type":"ok","id":"3","room":{"name":"general","topic":"","head":3,"epoch":"8da805d0f63bd590"},\
            "messages":[{"room":"general","seq":2,"from":"Hana","text":"お茶","kind":"action","ts":1767225600456,\
            "nonce":"hana-0002"},{"room":"general","seq":3,"from":"健","text":"おかえり!","kind":"text",\
            "ts":1767225660789,"nonce":"k-77"}],"limited":false,"reset":false}
            {"type":"message","room":"general","seq":4,"from":"Hana","text":"a","kind":"text","ts":1,"nonce":"n4"}
            {"type":"message","room":"general","seq":6,"from":"Hana","text":"c","kind":"text","ts":3}
            {"type":"ok","id":"7","messages":[{"room":"general","seq":5,"from":"Hana","text":"b","kind":"text",\
            "ts":2}],"more":false}
            {"type":"ok","id":"n4","seq":4,"ts":1}
            {"type":"joined","room":"general","user":"健"}
            {"type":"read","room":"general","seq":6}
            """
        ),
    ])

    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    static func utf8(_ seeds: [(String, String)]) -> [(name: String, bytes: [UInt8])] {
        seeds.map { (name: $0.0, bytes: Array($0.1.utf8)) }
    }

    /// Log-record seeds: file name → contents, made by the real encoder.
    static let logRecords: [(name: String, bytes: [UInt8])] = {
        let records: [(String, LogRecord)] = [
            (
                "user-created",
                .userCreated(
                    name: "Hana",
                    passwordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                    ts: 1_767_225_600_000
                )
            ),
            ("password-changed", .passwordChanged(user: "hana", passwordHash: "$argon2id$v=19$x")),
            ("token-issued", .tokenIssued(user: "hana", tokenHash: String(repeating: "ab", count: 32), ts: 1)),
            ("token-revoked", .tokenRevoked(tokenHash: String(repeating: "cd", count: 32))),
            ("token-used", .tokenUsed(tokenHash: String(repeating: "ab", count: 32), ts: 86_400_000)),
            ("room-created", .roomCreated(name: "Café ☕️", epoch: "8da805d0f63bd590", ts: -1)),
            ("epoch-changed", .epochChanged(room: "café ☕️", epoch: "0123abcd")),
            ("member-added", .memberAdded(room: "general", user: "hana")),
            ("member-removed", .memberRemoved(room: "чат", user: "σίσυφος")),
            ("topic-set", .topicSet(room: "general", topic: "雑談\n", by: "Hana")),
            (
                "message",
                .messageAppended(
                    ChatMessage(room: "general", seq: 1, from: "Hana", text: "こんにちは", kind: .text, ts: 1, nonce: "n-1")
                )
            ),
            (
                "message-action",
                .messageAppended(
                    ChatMessage(room: "r", seq: Int64.max, from: "健", text: "waves", kind: .action, ts: Int64.min)
                )
            ),
            (
                "message-edit",
                .messageAppended(
                    ChatMessage(
                        room: "general",
                        seq: 5,
                        from: "Hana",
                        text: "こんばんは",
                        kind: .edit,
                        ts: 2,
                        details: MessageDetails(target: 1)
                    )
                )
            ),
            (
                "message-react",
                .messageAppended(
                    ChatMessage(
                        room: "general",
                        seq: 6,
                        from: "健",
                        text: "",
                        kind: .react,
                        ts: 3,
                        details: MessageDetails(target: 1, emoji: "👍🏽")
                    )
                )
            ),
            ("read-marked", .readMarked(room: "general", user: "hana", seq: 42)),
            ("room-access", .roomAccess(room: "ops", visibility: .private, owner: "hana")),
            ("room-access-dm", .roomAccess(room: "@hana+健", visibility: .dm, owner: nil)),
        ]
        var seeds: [(name: String, bytes: [UInt8])] = records.map { name, record in
            var bytes: [UInt8] = []
            RecordFraming.append(record, to: &bytes)
            return ("record-" + name, bytes)
        }
        var log: [UInt8] = []
        for (_, record) in records { RecordFraming.append(record, to: &log) }
        seeds.append(("log-all", log))
        seeds.append(("log-torn-tail", Array(log.dropLast(3))))
        var damaged = log
        damaged[RecordFraming.headerSize + 2] ^= 0x40
        seeds.append(("log-damaged-first", damaged))
        seeds.append(("log-zero-tail", log + [UInt8](repeating: 0, count: 16)))
        var payload = ByteWriter()
        records[9].1.encode(into: &payload)
        seeds.append(("payload-message", payload.bytes))
        var snapshot = SnapshotFormat.header(generation: 3)
        var body: [UInt8] = []
        for (_, record) in records.prefix(9) { RecordFraming.append(record, to: &body) }
        snapshot += body
        let crc = CRC32C.checksum(snapshot)
        seeds.append(("snapshot", snapshot + SnapshotFormat.trailer(count: 9, crc: crc)))
        seeds.append(("snapshot-truncated", snapshot))
        return seeds
    }()
}
