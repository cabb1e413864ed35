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

    /// Takes several payloads at once, in order; must not block.
    ///
    /// - Parameters:
    ///   - payloads: encoded messages, in order.
    func deliver(contentsOf payloads: [ByteBuffer])
}

extension BrokerSubscriber {
    package func deliver(contentsOf payloads: [ByteBuffer]) {
        for payload in payloads { deliver(payload) }
    }
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

    /// Delivers several payloads, in order, to every subscriber of a channel (each subscriber
    /// takes them together, so a connection can write them with one system call).
    ///
    /// - Parameters:
    ///   - channel: channel name.
    ///   - payloads: encoded once each, shared by all receivers.
    /// - Returns: the number of receivers.
    @discardableResult
    func publish(_ channel: String, contentsOf payloads: [ByteBuffer]) -> Int
}

extension MessageBroker {
    @discardableResult
    package func publish(_ channel: String, contentsOf payloads: [ByteBuffer]) -> Int {
        var receivers = 0
        for payload in payloads { receivers = publish(channel, payload, excludingUser: nil) }
        return receivers
    }
}
