import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Open TCP connections on the chat port, counted in total and per client address: the
/// decisions, without I/O. Every accepted connection counts — plain HTTP and WebSocket alike.
///
/// A connection from a trusted proxy counts in the total at accept but not per address yet:
/// its client is known only from the request (`X-Forwarded-For`), and `assign` then counts it
/// for that client.
package struct ConnectionCounts: Sendable {
    package let maxTotal: Int
    package let maxPerAddress: Int
    package private(set) var total = 0
    package private(set) var perAddress: [String: Int] = [:]

    /// Creates empty counts.
    ///
    /// - Parameters:
    ///   - maxTotal: most connections in all.
    ///   - maxPerAddress: most connections for one client address.
    package init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    /// Counts a new connection; false (nothing counted) when a limit is reached.
    ///
    /// - Parameters:
    ///   - address: the client's address, or nil when it is known only later (trusted proxy).
    package mutating func admit(_ address: String?) -> Bool {
        guard total < maxTotal else { return false }
        if let address {
            guard perAddress[address, default: 0] < maxPerAddress else { return false }
            perAddress[address, default: 0] += 1
        }
        total += 1
        return true
    }

    /// Counts an admitted connection (admitted without an address) for its client; false
    /// (nothing counted) when that client is at its limit.
    ///
    /// - Parameters:
    ///   - address: the client's address.
    package mutating func assign(_ address: String) -> Bool {
        guard perAddress[address, default: 0] < maxPerAddress else { return false }
        perAddress[address, default: 0] += 1
        return true
    }

    /// Forgets a connection.
    ///
    /// - Parameters:
    ///   - address: the address it was counted for (nil: only in the total).
    package mutating func release(_ address: String?) {
        total -= 1
        guard let address else { return }
        perAddress[address, default: 1] -= 1
        if perAddress[address] == 0 { perAddress[address] = nil }
    }
}

/// The chat port's `ConnectionCounts`, shared by every connection's event loop.
package final class ConnectionGate: Sendable {
    private let counts: Mutex<ConnectionCounts>
    let resolver: ClientAddressResolver
    /// When a refusal was last logged, and how many were not logged since.
    private let refusals = Mutex<(last: NIODeadline?, unlogged: Int)>((nil, 0))
    /// Refusals are logged at most once per this interval (a flood of them is not a log storm).
    static let refusalLogInterval = TimeAmount.seconds(10)

    /// Creates a gate.
    ///
    /// - Parameters:
    ///   - maxTotal: most connections in all.
    ///   - maxPerAddress: most connections for one client address.
    ///   - resolver: tells trusted proxies from clients.
    package init(maxTotal: Int, maxPerAddress: Int, resolver: ClientAddressResolver) {
        counts = Mutex(ConnectionCounts(maxTotal: maxTotal, maxPerAddress: maxPerAddress))
        self.resolver = resolver
    }

    /// Open connections: in total, and for one address.
    ///
    /// - Parameters:
    ///   - address: a client address.
    package func open(for address: String) -> (total: Int, address: Int) {
        counts.withLock { ($0.total, $0.perAddress[address] ?? 0) }
    }

    /// Takes a place for a connection just accepted; nil when it must be refused.
    ///
    /// - Parameters:
    ///   - peer: the TCP peer's address.
    func admit(peer: String) -> ConnectionSlot? {
        let address: String? = resolver.isTrusted(peer) ? nil : peer
        guard counts.withLock({ $0.admit(address) }) else { return nil }
        return ConnectionSlot(gate: self, peer: peer, address: address)
    }

    /// Logs a refused connection or upgrade at notice, at most once per `refusalLogInterval`;
    /// the line counts the refusals that were not logged before it (`chat.refused_unlogged`).
    ///
    /// - Parameters:
    ///   - message: what was refused.
    ///   - metadata: who and why.
    ///   - logger: logger.
    package func logRefusal(_ message: Logger.Message, metadata: Logger.Metadata, logger: Logger) {
        let now = NIODeadline.now()
        let unlogged = refusals.withLock { state -> Int? in
            if let last = state.last, now - last < Self.refusalLogInterval {
                state.unlogged += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.unlogged
        }
        guard let unlogged else { return }
        var metadata = metadata
        if unlogged > 0 { metadata["chat.refused_unlogged"] = "\(unlogged)" }
        logger.notice(message, metadata: metadata)
    }

    fileprivate func assign(_ address: String) -> Bool {
        counts.withLock { $0.assign(address) }
    }

    fileprivate func release(_ address: String?) {
        counts.withLock { $0.release(address) }
    }
}

/// One accepted connection's place in the gate, released when the channel goes away. It sits
/// in the pipeline (a pass-through handler) so that the upgrade can find it.
final class ConnectionSlot: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let gate: ConnectionGate
    /// The TCP peer's address.
    let peer: String
    /// The address the connection counts for (nil: a trusted proxy's, not yet assigned).
    private(set) var address: String?
    private var released = false

    fileprivate init(gate: ConnectionGate, peer: String, address: String?) {
        self.gate = gate
        self.peer = peer
        self.address = address
    }

    /// Counts a trusted proxy's connection for the client it forwards (once); false when that
    /// client is at its limit. A connection already counted for an address keeps it.
    ///
    /// - Parameters:
    ///   - client: the client's address.
    func assign(_ client: String) -> Bool {
        guard address == nil, !released else { return true }
        guard gate.assign(client) else { return false }
        address = client
        return true
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        guard !released else { return }
        released = true
        gate.release(address)
    }
}

/// Wraps the chat port's child channel: every accepted connection takes a place in the
/// `ConnectionGate` before anything is read from it, and gives it back when it closes. A
/// connection over `--max-connections` or `--max-connections-per-address` is closed at once,
/// before a byte of it is read.
struct ConnectionLimitChannel<Base: ServerChildChannel>: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        /// nil: refused (closed by `handle`).
        let base: Base.Value?
        let channel: any Channel
    }

    let base: Base
    let gate: ConnectionGate

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let peer = channel.remoteAddress?.ipAddress ?? "unknown"
        guard let slot = gate.admit(peer: peer) else {
            // Failing the setup would reach the listening channel as an error; close in `handle`.
            gate.logRefusal("connection refused: connection limit", metadata: ["chat.peer": "\(peer)"], logger: logger)
            return channel.eventLoop.makeSucceededFuture(Value(base: nil, channel: channel))
        }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(slot, position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.map { Value(base: $0, channel: channel) }
    }

    func handle(value: Value, logger: Logger) async {
        guard let inner = value.base else {
            try? await value.channel.close()
            return
        }
        await base.handle(value: inner, logger: logger)
    }
}
