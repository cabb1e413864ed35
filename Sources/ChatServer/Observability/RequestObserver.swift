import ChatCore
import Logging
import Synchronization
import Tracing

/// Follows each request from its arrival to its answer: a `request` line at debug level when
/// it is answered (type, room, user, outcome, error code, time taken) and, with tracing on, a
/// span per request (`chat.<type>`) that the durable wait and the fan-out hang below.
///
/// The server has none when neither is wanted (log level above debug, tracing off): the hot
/// path then pays one nil check per request.
package final class RequestObserver: Sendable {
    private struct Key: Hashable {
        let conn: ConnID
        let id: String
    }

    private struct Open {
        let type: String
        let room: String?
        let start: ContinuousClock.Instant
        let span: (any Span)?
    }

    private let open = Mutex([Key: Open]())
    private let logger: Logger
    private let logs: Bool
    /// Whether spans are made (`--otlp-endpoint` or the `OTEL_*` environment).
    package let tracing: Bool

    /// - Parameters:
    ///   - logger: where `request` lines go (only at debug level or below).
    ///   - tracing: whether to make spans with the bootstrapped tracer.
    package init(logger: Logger, tracing: Bool) {
        self.logger = logger
        self.logs = logger.logLevel <= .debug
        self.tracing = tracing
    }

    /// The observer a server with this logger and tracing setting needs, or nil.
    ///
    /// - Parameters:
    ///   - logger: the server's logger.
    ///   - tracing: whether tracing is on.
    package static func ifNeeded(logger: Logger, tracing: Bool) -> RequestObserver? {
        logger.logLevel <= .debug || tracing ? RequestObserver(logger: logger, tracing: tracing) : nil
    }

    /// A request arrived (before it is answered).
    ///
    /// - Parameters:
    ///   - conn: connection.
    ///   - id: request id.
    ///   - type: request type (`invalid` for one the protocol does not know).
    ///   - room: the room it names, if any.
    ///   - user: the connection's user, if authenticated.
    package func begin(conn: ConnID, id: String, type: String, room: String?, user: String?) {
        let id = Self.printable(id)
        var span: (any Span)?
        if tracing {
            let s = InstrumentationSystem.tracer.startAnySpan("chat.\(type)", context: .topLevel, ofKind: .server)
            s.attributes["chat.request.type"] = type
            s.attributes["chat.request.id"] = id
            s.attributes["chat.conn.id"] = Int64(conn)
            if let room { s.attributes["chat.room"] = room }
            if let user { s.attributes["chat.user"] = user }
            span = s
        }
        let entry = Open(type: type, room: room, start: .now, span: span)
        open.withLock { $0[Key(conn: conn, id: id)] = entry }
    }

    /// A request was answered (no-op when it is not open: answered already, or never begun).
    ///
    /// - Parameters:
    ///   - conn: connection.
    ///   - id: request id.
    ///   - user: the connection's user now (after a login, the one it logged in as).
    ///   - error: the error code it was refused with; nil: it succeeded.
    package func end(conn: ConnID, id: String, user: String?, error: ErrorCode?) {
        let id = Self.printable(id)
        guard let entry = open.withLock({ $0.removeValue(forKey: Key(conn: conn, id: id)) }) else { return }
        let micros = entry.start.duration(to: .now).nanoseconds / 1000
        if let span = entry.span {
            span.attributes["chat.outcome"] = error == nil ? "ok" : "error"
            if let error {
                span.attributes["chat.error.code"] = error.rawValue
                span.setStatus(SpanStatus(code: .error, message: error.rawValue))
            } else {
                span.setStatus(SpanStatus(code: .ok))
            }
            if let user { span.attributes["chat.user"] = user }
            span.end()
        }
        guard logs else { return }
        var metadata: Logger.Metadata = [
            "chat.conn.id": "\(conn)",
            "chat.request.id": "\(id)",
            "chat.request.type": "\(entry.type)",
            "chat.outcome": "\(error == nil ? "ok" : "error")",
            "chat.duration_us": "\(micros)",
        ]
        if let room = entry.room { metadata["chat.room"] = "\(room)" }
        if let user { metadata["chat.user"] = "\(user)" }
        if let error { metadata["chat.error.code"] = "\(error.rawValue)" }
        logger.debug("request", metadata: metadata)
    }

    /// Ends what a closed connection left unanswered (outcome `abandoned`).
    ///
    /// - Parameters:
    ///   - conn: connection.
    package func endAll(conn: ConnID) {
        let left = open.withLock { open -> [(String, Open)] in
            let keys = open.keys.filter { $0.conn == conn }
            return keys.map { ($0.id, open.removeValue(forKey: $0)!) }
        }
        for (id, entry) in left {
            if let span = entry.span {
                span.attributes["chat.outcome"] = "abandoned"
                span.end()
            }
            if logs {
                logger.debug(
                    "request",
                    metadata: [
                        "chat.conn.id": "\(conn)", "chat.request.id": "\(id)", "chat.request.type": "\(entry.type)",
                        "chat.outcome": "abandoned",
                    ]
                )
            }
        }
    }

    /// A client's request id as logged: control characters (C0, and what
    /// `JSONValue.actsOnTerminal` names: DEL, C1, bidi controls) become `?`, so a text log line
    /// never carries a terminal escape sequence or a line break.
    ///
    /// - Parameters:
    ///   - id: the id as sent (1 to 64 scalars).
    static func printable(_ id: String) -> String {
        guard id.unicodeScalars.contains(where: isControl) else { return id }
        return String(String.UnicodeScalarView(id.unicodeScalars.map { isControl($0) ? "?" : $0 }))
    }

    private static func isControl(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || JSONValue.actsOnTerminal(s)
    }

    /// The trace context of a request still open (for its child spans), or of the oldest open
    /// request of the connection when `id` is nil.
    ///
    /// - Parameters:
    ///   - conn: connection.
    ///   - id: request id.
    package func context(conn: ConnID, id: String? = nil) -> ServiceContext? {
        guard tracing else { return nil }
        return open.withLock { open -> ServiceContext? in
            if let id { return open[Key(conn: conn, id: Self.printable(id))]?.span?.context }
            return open.filter { $0.key.conn == conn }.min { $0.value.start < $1.value.start }?.value.span?.context
        }
    }
}

/// Child spans, made only with tracing on.
package enum Spans {
    /// Starts a span named `name` below `parent` (a root span when nil); the caller ends it.
    ///
    /// - Parameters:
    ///   - name: span name.
    ///   - parent: the parent's context.
    ///   - kind: span kind.
    package static func start(
        _ name: String,
        parent: ServiceContext?,
        kind: SpanKind = .internal
    ) -> any Span {
        InstrumentationSystem.tracer.startAnySpan(name, context: parent ?? .topLevel, ofKind: kind)
    }
}
