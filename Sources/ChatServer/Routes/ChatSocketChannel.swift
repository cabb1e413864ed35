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
        /// An upgrade that is refused: a path that has none (400), an `Origin` not allowed (403), a
        /// malformed `X-Forwarded-For` from a trusted proxy (400), a forwarded client at its
        /// connection limit (503). Answered with the status and closed.
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HTTPResponse.Status)
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
    /// The `Origin` check and the client address behind trusted proxies.
    let policy: UpgradePolicy

    /// How the socket's reads are sized. NIO keeps each connection's last receive buffer for
    /// reuse, at its capacity, for the connection's life: with NIO's default first size (2,048
    /// bytes) that buffer was the largest single item of an idle connection's memory. Requests
    /// are small, so reads start at 256 bytes; a connection that fills its reads (a longer
    /// upgrade request, a pipelining publisher, an upload) grows them, up to 64 KiB.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffers)
            // Set when an upgrade was asked for and refused: the status to answer.
            let refusal = NIOLoopBoundBox(HTTPResponse.Status?.none, eventLoop: channel.eventLoop)
            let client = NIOLoopBoundBox(String?.none, eventLoop: channel.eventLoop)
            let path = self.path
            let connections = self.connections
            let policy = self.policy
            let upgrader = ChatWebSocketUpgrader(
                handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                    maxFrameSize: connections.configuration.limits.maxFrame,
                    shouldUpgrade: { channel, head in
                        let status = Self.decide(channel, head: head, path: path, policy: policy, logger: logger)
                        switch status {
                        case .success(let address): client.value = address
                        case .failure(let refused): refusal.value = refused.status
                        }
                        return channel.eventLoop.makeSucceededFuture(refusal.value == nil ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, _ in
                        // Not called: `ChatWebSocketUpgrader.upgrade` builds the pipeline.
                        channel.eventLoop.makeSucceededFuture(UpgradeResult.websocket)
                    }
                ),
                pipeline: { channel in
                    let address = client.value ?? channel.remoteAddress?.ipAddress ?? "unknown"
                    try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
                    try channel.pipeline.syncOperations.addHandler(
                        ChatSocketHandler(connections: connections, address: address, logger: logger)
                    )
                    return UpgradeResult.websocket
                }
            )
            let idleTimeout = self.idleTimeout
            let maxFileBytes = connections.configuration.limits.maxFileBytes
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try sync.addHandler(HTTPConnectionStateHandler(idleTimeout: .init(idleTimeout), logger: logger))
                        try sync.addHandler(ExpectContinueHandler(maxFileBytes: maxFileBytes))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return refusal.value.map { .failedUpgrade(asyncChannel, $0) } ?? .notUpgraded(asyncChannel)
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
            case .failedUpgrade(let http, let status):
                try await http.executeThenClose { _, outbound in
                    let head = HTTPResponse(
                        status: status,
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

extension ChatUpgradeChannel {
    struct Refused: Error {
        let status: HTTPResponse.Status
    }

    /// Decides an upgrade request (on the event loop): the path, the `Origin`, the client
    /// address (behind a trusted proxy, from `X-Forwarded-For`) and — for a trusted proxy's
    /// connection — the per-address limit of the forwarded client.
    ///
    /// - Returns: the client's address, or the status that refuses the upgrade.
    static func decide(
        _ channel: any Channel,
        head: HTTPRequestHead,
        path: String,
        policy: UpgradePolicy,
        logger: Logger
    ) -> Result<String, Refused> {
        let requested = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard requested == path else { return .failure(Refused(status: .badRequest)) }
        let slot = try? channel.pipeline.syncOperations.handler(type: ConnectionSlot.self)
        let peer = slot?.peer ?? channel.remoteAddress?.ipAddress ?? "unknown"
        // Refusals are logged through the gate: at most one line per interval, whatever the flood.
        func refuse(
            _ status: HTTPResponse.Status,
            _ message: Logger.Message,
            _ metadata: Logger.Metadata
        ) -> Result<String, Refused> {
            if let gate = slot?.gate {
                gate.logRefusal(message, metadata: metadata, logger: logger)
            } else {
                logger.notice(message, metadata: metadata)
            }
            return .failure(Refused(status: status))
        }
        let origins = head.headers["Origin"]
        switch policy.decide(peer: peer, origins: origins, forwardedFor: head.headers["X-Forwarded-For"]) {
        case .forbiddenOrigin:
            let origin = origins.joined(separator: ", ").prefix(200)
            return refuse(
                .forbidden,
                "upgrade refused: Origin not allowed",
                ["chat.peer": "\(peer)", "chat.origin": "\(origin)"]
            )
        case .malformedForwardedFor:
            return refuse(
                .badRequest,
                "upgrade refused: malformed X-Forwarded-For from a trusted proxy",
                ["chat.peer": "\(peer)"]
            )
        case .accept(let client):
            if let slot, !slot.assign(client) {
                return refuse(
                    .serviceUnavailable,
                    "connection refused: too many from one address",
                    ["chat.peer": "\(client)"]
                )
            }
            return .success(client)
        }
    }
}

/// The WebSocket upgrade: NIOWebSocket's handshake (the `Sec-WebSocket-Key` and version checks
/// and `Sec-WebSocket-Accept` are its), then a pipeline of NIOWebSocket's frame encoder and
/// `ChatSocketHandler`, which reads frames itself (`WebSocketFrameReader`) instead of through
/// the decoder handler NIOWebSocket's upgrader installs.
struct ChatWebSocketUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    /// Answers the handshake; its own pipeline step is not used.
    let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    /// Builds the upgraded pipeline (on the event loop).
    let pipeline: @Sendable (any Channel) throws -> UpgradeResult

    var supportedProtocol: String { handshake.supportedProtocol }

    var requiredUpgradeHeaders: [String] { handshake.requiredUpgradeHeaders }

    func buildUpgradeResponse(
        channel: any Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        handshake.buildUpgradeResponse(
            channel: channel,
            upgradeRequest: upgradeRequest,
            initialResponseHeaders: initialResponseHeaders
        )
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture { try pipeline(channel) }
    }
}
