import ChatCore

extension ConformanceSuite {
    static let transport: [ConformanceCase] = [
        ConformanceCase("transport.healthz", section: "Transport") { ctx in
            try checkEqual(try await httpStatus(url: ctx.url, path: "/healthz"), 200, "GET /healthz status")
        },
        ConformanceCase("transport.not-json-keeps-connection", section: "Transport") { ctx in
            let c = try await ctx.helloClient()
            try await c.sendText("this is not json")
            let error = try await c.nextObject()
            try expectError(error, "bad_request", "non-JSON frame")
            try checkEqual(error["id"], .null, "id of the error for a non-JSON frame")
            try expectOK(try await c.request("ping"), "ping after a protocol error")
        },
        ConformanceCase("transport.non-object-json", section: "Transport") { ctx in
            let c = try await ctx.helloClient()
            for text in ["[1,2,3]", "\"hello\"", "42", "null", "true"] {
                try await c.sendText(text)
                let error = try await c.nextObject()
                try expectError(error, "bad_request", "JSON that is not an object (\(text))")
                try checkEqual(error["id"], .null, "id of the error for \(text)")
            }
            try expectOK(try await c.request("ping"), "ping after protocol errors")
        },
        ConformanceCase("transport.binary-frame", section: "Transport") { ctx in
            let c = try await ctx.helloClient()
            try await c.writeFrame(opcode: 0x2, payload: Array(#"{"type":"ping","id":"b"}"#.utf8))
            let error = try await c.nextObject()
            try expectError(error, "bad_request", "binary frame")
            try checkEqual(error["id"], .null, "id of the error for a binary frame")
            try expectOK(try await c.request("ping"), "ping after a binary frame")
        },
        ConformanceCase("transport.protocol-errors-close-1008", section: "Transport") { ctx in
            let c = try await ctx.helloClient()
            for i in 0..<10 {
                try await c.sendText("garbage \(i)")
                try expectError(try await c.nextObject(), "bad_request", "protocol error \(i + 1)")
            }
            try expectOK(try await c.request("ping"), "ping after 10 protocol errors (the limit is more than 10)")
            try await c.sendText("garbage 11")
            let code = try await c.waitForClose()
            try checkEqual(code, 1008, "close code after 11 protocol errors within a minute")
        },
        ConformanceCase(
            "transport.max-frame-closes-1009",
            section: "Transport",
            requires: Requirement("max_frame <= 4 MiB") { $0.maxFrame <= 4 << 20 }
        ) { ctx in
            let c = try await ctx.helloClient()
            let prefix = #"{"type":"ping","id":"big","pad":""#
            let suffix = #""}"#
            let fits = prefix + String(repeating: "a", count: ctx.limits.maxFrame - prefix.utf8.count - 2) + suffix
            try checkEqual(fits.utf8.count, ctx.limits.maxFrame, "test frame size")
            try await c.sendText(fits)
            try expectOK(try await c.reply(to: "big"), "a frame of exactly max_frame bytes")
            try await c.sendText(fits + " ")
            try checkEqual(try await c.waitForClose(), 1009, "close code for a frame of max_frame + 1 bytes")
        },
        ConformanceCase(
            "transport.fragmented-message-over-max-frame",
            section: "Transport",
            requires: Requirement("max_frame <= 4 MiB") { $0.maxFrame <= 4 << 20 }
        ) { ctx in
            let c = try await ctx.helloClient()
            let half = ctx.limits.maxFrame / 2 + 1
            try await c.writeFrame(opcode: 0x1, payload: Array(repeating: 0x20, count: half), fin: false)
            try await c.writeFrame(opcode: 0x0, payload: Array(repeating: 0x20, count: half), fin: true)
            try checkEqual(try await c.waitForClose(), 1009, "close code for a fragmented message over max_frame")
        },
        ConformanceCase("transport.unknown-fields-ignored", section: "Transport") { ctx in
            let c = try await ctx.connect()
            let reply = try await c.request(
                "hello",
                ["version": 1, "client": "chat-conformance/1", "x_future_field": .object(["a": 1])]
            )
            try expectOK(reply, "hello with an unknown field")
        },
    ]

    static let frames: [ConformanceCase] = [
        ConformanceCase("frames.id-rules", section: "Three kinds of frame") { ctx in
            let c = try await ctx.helloClient()
            let id64 = String(repeating: "i", count: 64)
            for (label, text) in [
                ("no id", #"{"type":"ping"}"#), ("empty id", #"{"type":"ping","id":""}"#),
                ("numeric id", #"{"type":"ping","id":7}"#),
                ("65-character id", #"{"type":"ping","id":"\#(id64)x"}"#),
            ] {
                try await c.sendText(text)
                let error = try await c.nextObject()
                try expectError(error, "bad_request", label)
                try checkEqual(error["id"], .null, "id of the error for a request with \(label)")
            }
            try await c.sendText(#"{"type":"ping","id":"\#(id64)"}"#)
            try expectOK(try await c.reply(to: id64), "ping with a 64-character id")
            try await c.sendText(#"{"type":"ping","id":"日本語のid"}"#)
            try expectOK(try await c.reply(to: "日本語のid"), "ping with a non-ASCII id")
        },
        ConformanceCase("frames.unknown-type", section: "Three kinds of frame") { ctx in
            let c = try await ctx.helloClient()
            let reply = try await c.request("no_such_request")
            try expectError(reply, "bad_request", "unknown request type")
        },
        ConformanceCase("frames.replies-in-order", section: "Three kinds of frame") { ctx in
            let user = try await ctx.newUser()
            let room = ctx.unique("order")
            try await ctx.join(user.client, room)
            var ids: [String] = []
            for i in 0..<60 {
                let id = "p\(i)"
                ids.append(id)
                switch i % 3 {
                case 0: try await user.client.send(Request.ping.json(id: id))
                case 1:
                    let history = Request.history(room: try Request.room(room), before: nil, after: nil, limit: nil)
                    try await user.client.send(history.json(id: id))
                default: try await user.client.send(Request.rooms.json(id: id))
                }
            }
            for id in ids { try expectOK(try await user.client.reply(to: id), "pipelined request \(id)") }
        },
    ]
}
