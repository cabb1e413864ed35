import AsyncHTTPClient
import ChatCore
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Uploads and downloads over the chat server's HTTP file routes (`/v1/files`), with the
/// session token as a bearer token. Files stream from and to disk in 1 MiB pieces; a
/// download resumes from a `.part` file with a `Range` request and is checked against the
/// file's SHA-256 before it takes its name.
package struct FileTransfer: Sendable {
    /// `http(s)://host:port`.
    package let base: String
    package let token: String
    let client: HTTPClient

    /// Why a transfer failed.
    package struct Failure: Error, CustomStringConvertible, Equatable {
        /// The HTTP status (0: no answer).
        package var status: Int
        /// The server's error code (`too_large`, `quota_exceeded`, `not_found`, …) or `local`.
        package var code: String
        package var message: String
        package var description: String { message }
    }

    /// Creates a transfer client for a server.
    ///
    /// - Parameters:
    ///   - serverURL: the chat URL (`ws://host:port/v1/ws` or `wss://…`).
    ///   - token: the session token.
    ///   - tls: the TLS settings the chat connection uses (for `wss://`).
    package init(serverURL: String, token: String, tls: ClientTLSConfiguration? = nil) throws {
        let url = try ServerURL.normalize(serverURL)
        let secure = url.hasPrefix("wss://")
        let rest = url.dropFirst(secure ? 6 : 5)
        let authority = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        base = (secure ? "https://" : "http://") + authority
        self.token = token
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls?.tls
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the HTTP client.
    package func shutdown() async {
        try? await client.shutdown()
    }

    /// Uploads a file from disk.
    ///
    /// - Parameters:
    ///   - path: the local file.
    ///   - name: the name to give it (default: the file's own name).
    ///   - mime: its media type (default: from the extension).
    ///   - progress: called with bytes sent and the total.
    /// - Returns: what the server stored.
    package func upload(
        path: String,
        name: String? = nil,
        mime: String? = nil,
        progress: @escaping @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws -> FileRef {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Failure(status: 0, code: "local", message: "cannot read \(path)")
        }
        let size = Int64(
            (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)??.int64Value ?? 0
        )
        let fileName = name ?? (path as NSString).lastPathComponent
        var request = HTTPClientRequest(url: base + "/v1/files")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        request.headers.add(name: "Content-Type", value: mime ?? Self.mediaType(forName: fileName))
        request.headers.add(name: "Content-Disposition", value: FileNames.contentDisposition(fileName))
        let chunks = FileChunks(handle: handle, total: size, progress: progress)
        request.body = .stream(chunks, length: .known(size))
        defer { try? handle.close() }
        let response = try await client.execute(request, timeout: .hours(1))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .created else { throw Self.failure(response.status, body) }
        guard case .object(let object)? = try? JSONParser().parse(String(buffer: body)),
            let file = try? FileRef(wire: object)
        else {
            throw Failure(
                status: Int(response.status.code),
                code: "malformed",
                message: "the server's answer is not a file"
            )
        }
        return file
    }

    /// What a file is, from a `HEAD` request: its name (`Content-Disposition`), type, size
    /// and SHA-256 (`ETag`); for a download by id alone.
    ///
    /// - Parameters:
    ///   - id: the file id.
    package func info(_ id: String) async throws -> FileRef {
        var request = HTTPClientRequest(url: base + "/v1/files/" + id)
        request.method = .HEAD
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        let response = try await client.execute(request, timeout: .seconds(30))
        guard response.status == .ok else {
            throw Failure(
                status: Int(response.status.code),
                code: response.status == .notFound ? "not_found" : "http_\(response.status.code)",
                message: response.status == .notFound
                    ? "no such file (or not one you may see)" : "HTTP \(response.status.code)"
            )
        }
        let etag = response.headers.first(name: "ETag") ?? ""
        let sha = etag.hasPrefix("\"") && etag.hasSuffix("\"") ? String(etag.dropFirst().dropLast()) : etag
        guard let size = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }), FileRef.isValidHash(sha)
        else {
            throw Failure(status: 200, code: "malformed", message: "the server did not say the file's size and hash")
        }
        let name = response.headers.first(name: "Content-Disposition").flatMap(FileNames.parseContentDisposition) ?? id
        let mime = response.headers.first(name: "Content-Type") ?? "application/octet-stream"
        return FileRef(id: id, name: name, mime: mime, size: size, sha256: sha)
    }

    /// Downloads a file to `destination`, through `destination.part`: an existing `.part`
    /// is resumed with a `Range` request (`If-Range` on the file's hash). The result is
    /// checked against `file.sha256`; a mismatch removes it.
    ///
    /// - Parameters:
    ///   - file: the file (from its message).
    ///   - destination: where to put it (must not exist; see `LocalFiles.freePath`).
    ///   - progress: called with bytes received and the total.
    package func download(
        _ file: FileRef,
        to destination: String,
        progress: @escaping @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws {
        let partial = destination + ".part"
        let manager = FileManager.default
        var have = Int64((try? manager.attributesOfItem(atPath: partial)[.size] as? NSNumber)??.int64Value ?? 0)
        if have > file.size { have = 0 }
        if have == 0 || !manager.fileExists(atPath: partial) {
            guard manager.createFile(atPath: partial, contents: nil) else {
                throw Failure(status: 0, code: "local", message: "cannot create \(partial)")
            }
            have = 0
        }
        var request = HTTPClientRequest(url: base + "/v1/files/" + file.id)
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        if have > 0 {
            request.headers.add(name: "Range", value: "bytes=\(have)-")
            request.headers.add(name: "If-Range", value: "\"\(file.sha256)\"")
        }
        if have < file.size || file.size == 0 {
            let response = try await client.execute(request, timeout: .hours(1))
            guard response.status == .ok || response.status == .partialContent else {
                let body = try await response.body.collect(upTo: 1 << 16)
                throw Self.failure(response.status, body)
            }
            guard let handle = FileHandle(forWritingAtPath: partial) else {
                throw Failure(status: 0, code: "local", message: "cannot write \(partial)")
            }
            defer { try? handle.close() }
            if response.status == .ok {
                try handle.truncate(atOffset: 0)
                have = 0
            } else {
                try handle.seek(toOffset: UInt64(have))
            }
            for try await chunk in response.body {
                try handle.write(contentsOf: Data(chunk.readableBytesView))
                have += Int64(chunk.readableBytes)
                progress(have, file.size)
            }
        }
        guard have == file.size else {
            throw Failure(status: 0, code: "local", message: "the download stopped at \(have) of \(file.size) bytes")
        }
        guard try Self.sha256(ofFile: partial) == file.sha256 else {
            try? manager.removeItem(atPath: partial)
            throw Failure(status: 0, code: "local", message: "the downloaded bytes do not match the file's SHA-256")
        }
        guard rename(partial, destination) == 0 else {
            throw Failure(status: 0, code: "local", message: "cannot rename \(partial) to \(destination)")
        }
    }

    /// SHA-256 of a file, lowercase hex, read 1 MiB at a time.
    package static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Failure(status: 0, code: "local", message: "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { hasher.update(data: data) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func failure(_ status: HTTPResponseStatus, _ body: ByteBuffer) -> Failure {
        if case .object(let o)? = try? JSONParser().parse(String(buffer: body)) {
            return Failure(
                status: Int(status.code),
                code: o["error"]?.stringValue ?? "http_\(status.code)",
                message: o["message"]?.stringValue ?? "HTTP \(status.code)"
            )
        }
        return Failure(
            status: Int(status.code),
            code: "http_\(status.code)",
            message: "HTTP \(status.code) \(status.reasonPhrase)"
        )
    }

    /// A media type from a file name's extension (the common ones; otherwise octet-stream).
    package static func mediaType(forName name: String) -> String {
        let ext = (name as NSString).pathExtension.lowercased()
        let types: [String: String] = [
            "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
            "svg": "image/svg+xml", "pdf": "application/pdf", "txt": "text/plain", "log": "text/plain",
            "md": "text/markdown", "json": "application/json", "csv": "text/csv", "html": "text/html",
            "zip": "application/zip", "gz": "application/gzip", "tar": "application/x-tar", "mp4": "video/mp4",
            "mp3": "audio/mpeg", "wav": "audio/wav",
        ]
        return types[ext] ?? "application/octet-stream"
    }
}

/// A file read in 1 MiB pieces as an async sequence of buffers, reporting progress.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let handle: FileHandle
    let total: Int64
    let progress: @Sendable (Int64, Int64) -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle
        let total: Int64
        let progress: @Sendable (Int64, Int64) -> Void
        var sent: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else { return nil }
            sent += Int64(data.count)
            progress(sent, total)
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle, total: total, progress: progress) }
}
