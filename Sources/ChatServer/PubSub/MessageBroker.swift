import NIOCore
import ServiceLifecycle

/// Something that receives published payloads (a connection).
package protocol BrokerSubscriber: AnyObject, Sendable {
    /// A process-unique id.
    var subscriberID: UInt64 { get }
    /// The fold key of the authenticated user, for `publish(…, excludingUser:)`.
    var userKey: String? { get }
    /// Takes a payload; must not block.
    ///
    /// - Parameters:
    ///   - payload: an encoded message (for connections: a complete WebSocket text frame).
    func deliver(_ payload: ByteBuffer)

    /// Takes several encoded messages written back to back in one buffer; must not block.
    ///
    /// - Parameters:
    ///   - payload: the messages, in order (for connections: complete WebSocket text frames).
    ///   - frames: how many messages it holds.
    func deliver(_ payload: ByteBuffer, frames: Int)
}

/// Redis-like pub/sub: channels to subscribers, `publish` returns the number of
/// receivers. Methods are synchronous so a caller that publishes in seq order
/// delivers in seq order.
package protocol MessageBroker: Service {
    /// Adds a subscriber to a channel (idempotent).
    ///
    /// - Parameters:
    ///   - channel: channel name.
    ///   - subscriber: the receiver.
    func subscribe(_ channel: String, _ subscriber: any BrokerSubscriber)

    /// Removes a subscriber from a channel.
    ///
    /// - Parameters:
    ///   - channel: channel name.
    ///   - subscriberID: the receiver's id.
    func unsubscribe(_ channel: String, subscriberID: UInt64)

    /// Delivers a payload to every subscriber of a channel.
    ///
    /// - Parameters:
    ///   - channel: channel name.
    ///   - payload: encoded once, shared by all receivers.
    ///   - excludingUser: skip subscribers of this user.
    @discardableResult
    func publish(_ channel: String, _ payload: ByteBuffer, excludingUser: String?) -> Int

    /// Delivers several payloads, in order, to every subscriber of a channel. They are joined
    /// into one buffer once, and every subscriber takes that one buffer (a connection writes it
    /// with one system call).
    ///
    /// - Parameters:
    ///   - channel: channel name.
    ///   - payloads: encoded once each, shared by all receivers.
    /// - Returns: the number of receivers.
    @discardableResult
    func publish(_ channel: String, contentsOf payloads: [ByteBuffer]) -> Int
}

extension [ByteBuffer] {
    /// The buffers' bytes back to back, in one buffer.
    package var joined: ByteBuffer {
        guard count > 1 else { return first ?? ByteBuffer() }
        var buffer = ByteBufferAllocator().buffer(capacity: reduce(0) { $0 + $1.readableBytes })
        for part in self { buffer.writeImmutableBuffer(part) }
        return buffer
    }
}
