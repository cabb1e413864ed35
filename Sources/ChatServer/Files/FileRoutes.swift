import ChatCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `POST /v1/files`, `GET`/`HEAD /v1/files/ID` and `OPTIONS /v1/files` on the chat port.
///
/// Uploads stream to disk while hashed (never held whole in memory); a download streams from
/// disk. Both take the session token as `Authorization: Bearer TOKEN`. A file the user may
/// not see answers 404, as a file that does not exist does.
package struct FileRoutes: Sendable {
    let hub: RoomHub
    let store: FileStore
    let limits: Limits
    let logger: Logger
    let fileIO = FileIO()

    static let contentDisposition = HTTPField.Name("Content-Disposition")!
    static let acceptPost = HTTPField.Name("Accept-Post")!
    static let nosniff = HTTPField.Name("X-Content-Type-Options")!
    static let csp = HTTPField.Name("Content-Security-Policy")!

    /// Adds the routes.
    ///
    /// - Parameters:
    ///   - router: the chat port's router.
    func register(on router: Router<ChatRequestContext>) {
        router.post("/v1/files") { request, context in try await upload(request, context: context) }
        router.on("/v1/files", method: .options) { _, _ in
            var headers = HTTPFields()
            headers[.allow] = "OPTIONS, POST"
            headers[Self.acceptPost] = "*/*"
            return Response(status: .noContent, headers: headers)
        }
        router.get("/v1/files/:id") { request, context in try await download(request, context: context, head: false) }
        router.head("/v1/files/:id") { request, context in try await download(request, context: context, head: true) }
    }

    /// A JSON error body `{"error": code, "message": …}`.
    static func failure(
        _ status: HTTPResponse.Status,
        _ code: String,
        _ message: String,
        headers extra: HTTPFields = [:]
    ) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        let body: JSONValue = .object(["error": .string(code), "message": .string(message)])
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.jsonString)))
    }

    static func refusal(_ refusal: FileRefusal) -> Response {
        switch refusal {
        case .unauthorized:
            ServerMetrics.fileRefused("unauthorized")
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer"
            return failure(.unauthorized, "unauthorized", "a valid session token is required", headers: headers)
        case .notFound:
            ServerMetrics.fileRefused("not_found")
            return failure(.notFound, "not_found", "no such file")
        case .tooLarge(let limit):
            ServerMetrics.fileRefused("too_large")
            var headers = HTTPFields()
            headers[.connection] = "close"
            return failure(
                .contentTooLarge,
                "too_large",
                "files are limited to \(limit) bytes",
                headers: headers
            )
        case .overQuota(let quota, let used):
            ServerMetrics.fileRefused("quota")
            var headers = HTTPFields()
            headers[.connection] = "close"
            return failure(
                .contentTooLarge,
                "quota_exceeded",
                "this upload would exceed your storage quota (\(used) of \(quota) bytes used)",
                headers: headers
            )
        case .rateLimited(let wait):
            ServerMetrics.fileRefused("rate_limited")
            var headers = HTTPFields()
            headers[.retryAfter] = String(max(1, (wait + 999) / 1000))
            headers[.connection] = "close"
            return failure(.tooManyRequests, "rate_limited", "too many uploads; try again later", headers: headers)
        case .unavailable:
            ServerMetrics.fileRefused("unavailable")
            return failure(.serviceUnavailable, "internal", "the server cannot store files now")
        case .diskFull:
            ServerMetrics.fileRefused("disk_full")
            var headers = HTTPFields()
            headers[.connection] = "close"
            return failure(
                HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"),
                "insufficient_storage",
                "the server's disk is too full to take this file",
                headers: headers
            )
        }
    }

    /// The user of the request's bearer token.
    func user(_ request: Request) async -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 256 else { return nil }
        return await hub.fileUser(token: token)
    }

    func upload(_ request: Request, context: ChatRequestContext) async throws -> Response {
        guard limits.maxFileBytes > 0 else {
            return Self.failure(.notFound, "not_found", "this server does not take files")
        }
        guard let user = await user(request) else { return Self.refusal(.unauthorized) }
        let declared: Int64?
        if let header = request.headers[.contentLength] {
            guard let value = Int64(header), value >= 0 else {
                ServerMetrics.fileRefused("bad_request")
                return Self.failure(.badRequest, "bad_request", "Content-Length is not a number")
            }
            declared = value
        } else {
            declared = nil
        }
        let name: String
        switch FileNames.uploadName(request.headers[Self.contentDisposition].flatMap(FileNames.parseContentDisposition))
        {
        case .success(let value): name = value
        case .failure(let error):
            ServerMetrics.fileRefused("bad_request")
            return Self.failure(.badRequest, "bad_request", error.message)
        }
        let mime = Self.mediaType(request.headers[.contentType])
        let room: Int64
        switch await hub.admitUpload(user: user, declaredSize: declared) {
        case .success(let left): room = left
        case .failure(let refusal): return Self.refusal(refusal)
        }
        let limit = min(limits.maxFileBytes, room)
        if let free = store.freeBytes(), free - (declared ?? limit) < FileStore.reserveBytes {
            return Self.refusal(.diskFull)
        }
        let received: FileStore.Received
        do {
            received = try await store.receive(request.body, limit: limit)
        } catch FileStore.ReceiveError.tooLarge {
            if limit < limits.maxFileBytes {
                return Self.refusal(.overQuota(quota: limits.fileQuotaBytes, used: limits.fileQuotaBytes - room))
            }
            return Self.refusal(.tooLarge(limit: limits.maxFileBytes))
        } catch FileStore.ReceiveError.storage(let reason) {
            logger.error("cannot store an upload", metadata: ["chat.error": "\(reason)"])
            return Self.refusal(.unavailable)
        } catch {
            // The client went away or sent a broken body: nothing was kept.
            ServerMetrics.fileRefused("interrupted")
            throw error
        }
        ServerMetrics.uploadedBytes(received.size)
        if let declared, declared != received.size {
            try? FileManager.default.removeItem(atPath: received.temporaryPath)
            ServerMetrics.fileRefused("bad_request")
            return Self.failure(.badRequest, "bad_request", "the body is not Content-Length bytes long")
        }
        do {
            try await store.install(received)
        } catch {
            logger.error("cannot store an upload", metadata: ["chat.error": "\(error)"])
            return Self.refusal(.unavailable)
        }
        let file = FileRef(
            id: HubCore.fileID(sha256: received.sha256, uploader: user),
            name: name,
            mime: mime,
            size: received.size,
            sha256: received.sha256
        )
        let result = await hub.registerUpload(file, user: user)
        await store.finishedInstall(received.sha256)
        switch result {
        case .failure(let refusal):
            return Self.refusal(refusal)
        case .success(let file):
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.location] = "/v1/files/" + file.id
            return Response(
                status: .created,
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(file.json).jsonString))
            )
        }
    }

    /// The declared media type, if it looks like one (`type/subtype[; params]`, printable
    /// ASCII, at most 127 bytes); otherwise `application/octet-stream`.
    static func mediaType(_ header: String?) -> String {
        let fallback = "application/octet-stream"
        guard let header else { return fallback }
        let value = header.trimmingCharacters(in: .whitespaces)
        guard value.utf8.count <= 127, value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return fallback }
        let essence = value.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces)
        let parts = essence.split(separator: "/", omittingEmptySubsequences: false)
        let token: (Substring) -> Bool = { part in
            !part.isEmpty && part.utf8.allSatisfy { $0 > 0x20 && !"()<>@,;:\\\"/[]?={}".utf8.contains($0) }
        }
        guard parts.count == 2, token(parts[0]), token(parts[1]) else { return fallback }
        return value.lowercased().hasPrefix("multipart/") ? fallback : value
    }

    func download(_ request: Request, context: ChatRequestContext, head: Bool) async throws -> Response {
        guard let user = await user(request) else { return Self.refusal(.unauthorized) }
        guard let id = context.parameters.get("id"), FileRef.isValidID(id),
            let file = await hub.downloadable(id, user: user)
        else { return Self.refusal(.notFound) }
        let path = store.blobPath(file.sha256)
        // On a cluster, bytes another node took are copied from PostgreSQL at the first download.
        let present = FileManager.default.fileExists(atPath: path)
        guard present ? true : await hub.fetchMissingBytes(file) else {
            logger.error(
                "a stored file's bytes are missing",
                metadata: ["chat.file.id": "\(id)", "chat.path": "\(path)"]
            )
            return Self.refusal(.notFound)
        }
        var headers = HTTPFields()
        let etag = "\"\(file.sha256)\""
        headers[.eTag] = etag
        headers[.acceptRanges] = "bytes"
        headers[.cacheControl] = "private, max-age=31536000, immutable"
        headers[Self.nosniff] = "nosniff"
        headers[Self.csp] = "sandbox"
        if let match = request.headers[.ifNoneMatch], match == etag || match == "*" {
            ServerMetrics.downloaded(bytes: 0)
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.mime
        headers[Self.contentDisposition] = FileNames.contentDisposition(file.name)
        var range: ClosedRange<Int64>?
        if let header = request.headers[.range],
            request.headers[.ifRange].map({ $0 == etag }) ?? true
        {
            switch Self.byteRange(header, size: file.size) {
            case .whole: break
            case .part(let part): range = part
            case .unsatisfiable:
                headers[.contentRange] = "bytes */\(file.size)"
                return Self.failure(
                    .rangeNotSatisfiable,
                    "bad_request",
                    "the range is outside the file",
                    headers: headers
                )
            }
        }
        let status: HTTPResponse.Status
        let part = range ?? 0...(file.size - 1)
        if let range {
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(file.size)"
        } else {
            status = .ok
        }
        let length = file.size == 0 ? 0 : part.upperBound - part.lowerBound + 1
        headers[.contentLength] = String(length)
        if head || length == 0 {
            return Response(status: status, headers: headers)
        }
        ServerMetrics.downloaded(bytes: length)
        let body = try await fileIO.loadFile(
            path: path,
            range: Int(part.lowerBound)...Int(part.upperBound),
            context: context
        )
        return Response(status: status, headers: headers, body: body)
    }

    /// A `Range` header's meaning for a file of `size` bytes.
    package enum ByteRange: Equatable {
        /// Not one range this server serves (several ranges, another unit, malformed): the
        /// whole file, 200.
        case whole
        /// One satisfiable range: 206.
        case part(ClosedRange<Int64>)
        /// A well-formed range wholly outside the file: 416.
        case unsatisfiable
    }

    /// Reads `bytes=FIRST-LAST`, `bytes=FIRST-` or `bytes=-SUFFIX` (RFC 9110 section 14).
    ///
    /// - Parameters:
    ///   - header: the header's value.
    ///   - size: the file's size.
    package static func byteRange(_ header: String, size: Int64) -> ByteRange {
        let value = header.trimmingCharacters(in: .whitespaces)
        guard value.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = value.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(",") else { return .whole }
        let ends = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard ends.count == 2 else { return .whole }
        let first = ends[0].trimmingCharacters(in: .whitespaces)
        let last = ends[1].trimmingCharacters(in: .whitespaces)
        let digits: (String) -> Bool = {
            !$0.isEmpty && $0.utf8.count <= 18 && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        }
        if first.isEmpty {
            guard digits(last), let suffix = Int64(last) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .part(max(0, size - suffix)...(size - 1))
        }
        guard digits(first), let start = Int64(first) else { return .whole }
        var end = size - 1
        if !last.isEmpty {
            guard digits(last), let value = Int64(last), value >= start else { return .whole }
            end = min(value, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .part(start...end)
    }
}
