import ChatCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The admin socket: a Unix domain socket in the data directory (mode 0600)
/// through which `chat-server user|invite|token` reach a running server. Only
/// someone who can open files in the data directory can use it.
package enum AdminSocket {
    /// The socket's file name inside the data directory.
    package static let fileName = "admin.sock"
    /// Largest request body accepted.
    static let maxBody = 64 * 1024

    /// The socket path for a data directory.
    ///
    /// - Parameters:
    ///   - dataDirectory: the data directory.
    package static func path(in dataDirectory: String) -> String {
        dataDirectory + "/" + fileName
    }

    /// An application serving `POST /v1/admin` on the socket, run as a service of the server.
    ///
    /// - Parameters:
    ///   - path: the socket path (a stale file there is removed: the caller holds the data directory lock).
    ///   - hub: the hub the commands run on.
    ///   - logger: logger.
    static func application(path: String, hub: RoomHub, logger: Logger) -> some ApplicationProtocol {
        unlink(path)
        let router = Router()
        router.post("/v1/admin") { request, _ -> Response in
            let reply: JSONObject
            let status: HTTPResponse.Status
            do {
                let body = try await request.body.collect(upTo: maxBody)
                let command = try parse(String(buffer: body))
                reply = try await hub.admin(command)
                status = .ok
                logger.notice("admin command", metadata: ["chat.admin.op": "\(command.json["op"]?.stringValue ?? "?")"])
            } catch let error as AdminError {
                reply = ["error": .string(error.description)]
                status = .badRequest
            } catch {
                reply = ["error": "request too large or unreadable"]
                status = .badRequest
            }
            return Response(
                status: status,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(reply).jsonString))
            )
        }
        return Application(
            router: router,
            configuration: .init(address: .unixDomainSocket(path: path), serverName: "chat-server-admin"),
            onServerRunning: { _ in
                if chmod(path, 0o600) != 0 {
                    logger.error("cannot restrict the admin socket to its owner", metadata: ["chat.path": "\(path)"])
                }
            },
            logger: logger
        )
    }

    static func parse(_ text: String) throws(AdminError) -> AdminCommand {
        guard case .object(let object)? = try? JSONParser().parse(text) else {
            throw AdminError("the request must be a JSON object")
        }
        return try AdminCommand(json: object)
    }

    /// Sends a command to a running server.
    ///
    /// - Parameters:
    ///   - command: the command.
    ///   - path: the socket path.
    /// - Returns: the server's reply.
    package static func send(_ command: AdminCommand, path: String) async throws -> JSONObject {
        let body = ByteBuffer(string: JSONValue.object(command.json).jsonString)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        let (status, reply) = try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/admin")
            head.headers = [
                "Host": "localhost", "Content-Type": "application/json", "Content-Length": "\(body.readableBytes)",
                "Connection": "close",
            ]
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(body)))
            try await outbound.write(.end(nil))
            var status = HTTPResponseStatus.internalServerError
            var bytes = ByteBuffer()
            loop: for try await part in inbound {
                switch part {
                case .head(let head): status = head.status
                case .body(var chunk): bytes.writeBuffer(&chunk)
                case .end: break loop
                }
            }
            return (status, String(buffer: bytes))
        }
        guard case .object(let object)? = try? JSONParser().parse(reply) else {
            throw AdminError("the server sent an unreadable reply (HTTP \(status.code))")
        }
        if status != .ok { throw AdminError(object["error"]?.stringValue ?? "refused (HTTP \(status.code))") }
        return object
    }
}

/// Runs admin commands where the data is: through the admin socket when a server
/// holds the data directory, otherwise on the directory itself (offline).
package enum AdminRunner {
    /// Where a command ran.
    package enum Place: Sendable, Equatable {
        case offline
        case runningServer
    }

    /// Runs one command.
    ///
    /// - Parameters:
    ///   - command: the command.
    ///   - dataDirectory: the server's data directory.
    ///   - logger: logger for recovery messages.
    /// - Returns: the result and where it ran.
    package static func run(
        _ command: AdminCommand,
        dataDirectory: String,
        logger: Logger
    ) async throws -> (result: JSONObject, place: Place) {
        switch command {
        case .addUser, .createInvite: break
        default:
            guard FileManager.default.fileExists(atPath: dataDirectory) else {
                throw AdminError("there is no data directory at \(dataDirectory)")
            }
        }
        let store = FileChatStore(
            configuration: StorageConfiguration(directory: dataDirectory, fsync: .always),
            logger: logger
        )
        let state: ChatState
        do {
            state = try await store.recover()
        } catch let error as StorageError where error.isLocked {
            let socket = AdminSocket.path(in: dataDirectory)
            do {
                return (try await AdminSocket.send(command, path: socket), .runningServer)
            } catch let error as AdminError {
                throw error
            } catch {
                throw AdminError(
                    "a running chat-server holds \(dataDirectory), but its admin socket \(socket) "
                        + "is not reachable (\(error)); was it started with --no-admin-socket?"
                )
            }
        }
        var configuration = ServerConfiguration(dataDirectory: dataDirectory)
        configuration.storage = store.configuration
        let hub = RoomHub(
            configuration: configuration,
            state: state,
            store: store,
            broker: InMemoryBroker(),
            logger: logger
        )
        do {
            let result = try await hub.admin(command)
            await store.close()
            return (result, .offline)
        } catch {
            await store.close()
            throw error
        }
    }
}
