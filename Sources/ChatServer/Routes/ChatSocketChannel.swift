import ChatCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// HTTP/1.1 on the server port, with an upgrade to the chat WebSocket at one path.
///
/// Plain HTTP requests (`/healthz`, `/metrics`) go to Hummingbird's responder. An upgraded
/// connection is served by a `ChatSocketHandler` in the channel pipeline, not by a task:
/// NIOWebSocket decodes and encodes the frames, and the handler turns them into requests
/// for the hub. An idle connection then holds no task at all (with HummingbirdWebSocket's
/// async handler it held three, about 24 KB of task memory), and requests read together
/// reach the hub without a hop per frame through an async sequence.
struct ChatUpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        /// The chat handler is in the pipeline and runs the connection.
        case websocket
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade was asked for a path that has none (answered 400).
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    /// The WebSocket path (`/v1/ws`).
    let path: String
    let connections: ConnectionHandler
    /// Idle time after which a plain HTTP connection is closed.
    let idleTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let attempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let path = self.path
            let connections = self.connections
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: connections.configuration.limits.maxFrame,
                enableAutomaticErrorHandling: true,
                shouldUpgrade: { channel, head in
                    attempted.value = true
                    let requested = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                    return channel.eventLoop.makeSucceededFuture(requested == path ? HTTPHeaders() : nil)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ChatSocketHandler(connections: connections, logger: logger)
                        )
                        return UpgradeResult.websocket
                    }
                }
            )
            let idleTimeout = self.idleTimeout
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try sync.addHandler(HTTPConnectionStateHandler(idleTimeout: .init(idleTimeout), logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return attempted.value ? .failedUpgrade(asyncChannel) : .notUpgraded(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(
                upgradeConfiguration: upgrade
            )
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: configuration
            )
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .websocket:
                // The pipeline runs the connection; nothing waits for it here.
                break
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .failedUpgrade(let http):
                try await http.executeThenClose { _, outbound in
                    let head = HTTPResponse(
                        status: .badRequest,
                        headerFields: [.connection: "close", .contentLength: "0"]
                    )
                    try await outbound.write(contentsOf: [.head(head), .end(nil)])
                }
            }
        } catch {
            logger.trace("connection ended during the upgrade", metadata: ["error": "\(error)"])
        }
    }
}
