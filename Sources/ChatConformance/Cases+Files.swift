import ChatCore
import Crypto

/// Files (PROTOCOL.md §15): each case needs the server to name `files` in its `hello` reply.
/// The HTTP requests go over plain TCP, so these cases run against `ws://` servers.
extension ConformanceSuite {
    static let files: [ConformanceCase] = [
        ConformanceCase("files.share-and-download", section: "Files", requires: .feature(ServerFeature.files)) { ctx in
            try check(ctx.limits.maxFileBytes > 0, "hello.limits has no max_file_bytes")
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let room = ctx.unique("files")
            for client in [alice.client, bob.client] { try await ctx.join(client, room) }
            let bytes = FileCases.pattern(70_001)
            let file = try await FileCases.upload(ctx, alice.token, bytes, name: "conf 日本.txt", mime: "text/plain")
            try checkEqual(file.size, 70_001, "upload: size")
            try checkEqual(file.sha256, FileCases.sha256(bytes), "upload: sha256")
            try checkEqual(file.name, "conf 日本.txt", "upload: name")
            try checkEqual(file.mime, "text/plain", "upload: mime")
            try check(FileRef.isValidID(file.id), "upload: id is not 32 hex digits: \(file.id)")

            let sent = try await bob.client.request(
                Request.send(room: try Request.room(room), text: "", kind: .file, nonce: nil, file: file.id)
            )
            try expectError(sent, "not_found", "send of another user's upload")
            _ = try expectOK(
                try await alice.client.request(
                    Request.send(
                        room: try Request.room(room),
                        text: "a caption",
                        kind: .file,
                        nonce: nil,
                        file: file.id
                    )
                ),
                "send of a file"
            )
            let message = try await bob.client.nextMessage()
            try checkEqual(message.kind, .file, "message kind")
            try checkEqual(message.file, file, "message file")
            try checkEqual(message.text, "a caption", "message caption")

            let auth = [("Authorization", "Bearer \(bob.token)")]
            let whole = try await httpRequest(url: ctx.url, method: "GET", path: "/v1/files/\(file.id)", headers: auth)
            try checkEqual(whole.status, 200, "GET status")
            try check(whole.body == bytes, "GET: the bytes differ from the upload")
            try checkEqual(whole.headers["etag"], "\"\(file.sha256)\"", "GET ETag")
            try checkEqual(whole.headers["x-content-type-options"], "nosniff", "GET X-Content-Type-Options")
            try check(
                whole.headers["content-security-policy"]?.contains("sandbox") == true,
                "GET has no Content-Security-Policy: sandbox"
            )
            try check(
                whole.headers["content-disposition"]?.contains("filename*=UTF-8''conf%20") == true,
                "GET Content-Disposition: \(whole.headers["content-disposition"] ?? "none")"
            )
            let part = try await httpRequest(
                url: ctx.url,
                method: "GET",
                path: "/v1/files/\(file.id)",
                headers: auth + [("Range", "bytes=100-199")]
            )
            try checkEqual(part.status, 206, "Range status")
            try check(part.body == Array(bytes[100..<200]), "Range: wrong bytes")
            try checkEqual(part.headers["content-range"], "bytes 100-199/70001", "Content-Range")
            let past = try await httpRequest(
                url: ctx.url,
                method: "GET",
                path: "/v1/files/\(file.id)",
                headers: auth + [("Range", "bytes=80000-")]
            )
            try checkEqual(past.status, 416, "Range past the end")
            let head = try await httpRequest(url: ctx.url, method: "HEAD", path: "/v1/files/\(file.id)", headers: auth)
            try checkEqual(head.status, 200, "HEAD status")
            try checkEqual(head.headers["content-length"], "70001", "HEAD Content-Length")
        },
        ConformanceCase("files.access", section: "Files", requires: .feature(ServerFeature.files)) { ctx in
            let alice = try await ctx.newUser()
            let bob = try await ctx.newUser()
            let carol = try await ctx.newUser()
            let room = ctx.unique("fileacl")
            for client in [alice.client, bob.client] { try await ctx.join(client, room) }
            let file = try await FileCases.upload(ctx, alice.token, FileCases.pattern(1000), name: "a.bin", mime: nil)
            let path = "/v1/files/\(file.id)"
            // Before it is posted only the uploader may read it.
            try checkEqual(
                try await FileCases.status(ctx, path, alice),
                200,
                "the uploader's GET of an unposted file"
            )
            try checkEqual(
                try await FileCases.status(ctx, path, bob),
                404,
                "another user's GET of an unposted file"
            )
            let sent = try expectOK(
                try await alice.client.request(
                    Request.send(room: try Request.room(room), text: "", kind: .file, nonce: nil, file: file.id)
                ),
                "send of a file"
            )
            let seq = sent["seq"]?.intValue ?? 0
            try checkEqual(
                try await FileCases.status(ctx, path, bob),
                200,
                "a member's GET"
            )
            try checkEqual(
                try await FileCases.status(ctx, path, carol),
                404,
                "a non-member's GET (404, not 403)"
            )
            let madeUp = "/v1/files/" + String(repeating: "0", count: 32)
            try checkEqual(
                try await FileCases.status(ctx, madeUp, bob),
                404,
                "GET of an id that does not exist"
            )
            try checkEqual(
                try await httpRequest(url: ctx.url, method: "GET", path: path).status,
                401,
                "GET without a token"
            )
            try checkEqual(
                try await httpRequest(
                    url: ctx.url,
                    method: "GET",
                    path: path,
                    headers: [("Authorization", "Bearer not-a-token")]
                ).status,
                401,
                "GET with a bad token"
            )
            try expectError(
                try await alice.client.request("send", ["room": .string(room), "kind": "file"]),
                "bad_request",
                "send of kind file without a file"
            )
            try expectError(
                try await alice.client.request(
                    "send",
                    ["room": .string(room), "text": "x", "file": .string(file.id)]
                ),
                "bad_request",
                "send of a file with kind text"
            )
            // Deleting its only message removes the file.
            _ = try expectOK(
                try await alice.client.request(Request.delete(room: try Request.room(room), seq: seq)),
                "delete of the file message"
            )
            try checkEqual(
                try await FileCases.status(ctx, path, bob),
                404,
                "a member's GET after the only message was deleted"
            )
        },
        ConformanceCase("files.too-large", section: "Files", requires: .feature(ServerFeature.files)) { ctx in
            let alice = try await ctx.newUser()
            let declared = ctx.limits.maxFileBytes + 1
            let answer = try await httpRequest(
                url: ctx.url,
                method: "POST",
                path: "/v1/files",
                headers: FileCases.auth(alice) + [("Content-Length", "\(declared)")],
                sendBody: false
            )
            try checkEqual(answer.status, 413, "POST with Content-Length over max_file_bytes (body not sent)")
            try checkEqual(answer.json?["error"]?.stringValue, "too_large", "413 error code")
            let anonymous = try await httpRequest(url: ctx.url, method: "POST", path: "/v1/files", body: [1, 2, 3])
            try checkEqual(anonymous.status, 401, "POST without a token")
            let options = try await httpRequest(url: ctx.url, method: "OPTIONS", path: "/v1/files")
            try check(options.status == 204 || options.status == 200, "OPTIONS /v1/files: \(options.status)")
            try check(options.headers["accept-post"] != nil, "OPTIONS /v1/files has no Accept-Post")
        },
    ]
}

/// Helpers of the file cases.
enum FileCases {
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 131) ^ ($0 >> 8)) }
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { byte in
            let hex = Array("0123456789abcdef")
            return String([hex[Int(byte >> 4)], hex[Int(byte & 15)]])
        }.joined()
    }

    static func auth(_ user: TestUser) -> [(String, String)] { [("Authorization", "Bearer \(user.token)")] }

    /// The status of a `GET` by a user.
    static func status(_ ctx: ConformanceContext, _ path: String, _ user: TestUser) async throws -> Int {
        try await httpRequest(url: ctx.url, method: "GET", path: path, headers: auth(user)).status
    }

    static func upload(
        _ ctx: ConformanceContext,
        _ token: String,
        _ bytes: [UInt8],
        name: String,
        mime: String?
    ) async throws -> FileRef {
        var headers = [
            ("Authorization", "Bearer \(token)"), ("Content-Disposition", FileNames.contentDisposition(name)),
        ]
        if let mime { headers.append(("Content-Type", mime)) }
        let answer = try await httpRequest(
            url: ctx.url,
            method: "POST",
            path: "/v1/files",
            headers: headers,
            body: bytes
        )
        try checkEqual(answer.status, 201, "POST /v1/files status")
        guard let json = answer.json, let file = try? FileRef(wire: json) else {
            throw ConformanceFailure("POST /v1/files: the answer is not a file object")
        }
        return file
    }
}
