import NIOCore
import ServiceLifecycle
import Synchronization

/// The single-process broker: a locked dictionary of channels.
package final class InMemoryBroker: MessageBroker {
    private let channels = Mutex<[String: [UInt64: any BrokerSubscriber]]>([:])

    /// Creates an empty broker.
    package init() {}

    package func subscribe(_ channel: String, _ subscriber: any BrokerSubscriber) {
        channels.withLock { $0[channel, default: [:]][subscriber.subscriberID] = subscriber }
    }

    package func unsubscribe(_ channel: String, subscriberID: UInt64) {
        channels.withLock { channels in
            channels[channel]?[subscriberID] = nil
            if channels[channel]?.isEmpty == true { channels[channel] = nil }
        }
    }

    @discardableResult
    package func publish(_ channel: String, _ payload: ByteBuffer, excludingUser: String? = nil) -> Int {
        let receivers = channels.withLock { $0[channel].map { Array($0.values) } ?? [] }
        var count = 0
        for receiver in receivers {
            if let excludingUser, receiver.userKey == excludingUser { continue }
            receiver.deliver(payload)
            count += 1
        }
        return count
    }

    @discardableResult
    package func publish(_ channel: String, contentsOf payloads: [ByteBuffer]) -> Int {
        let receivers = channels.withLock { $0[channel].map { Array($0.values) } ?? [] }
        for receiver in receivers { receiver.deliver(contentsOf: payloads) }
        return receivers.count
    }

    package func run() async throws {
        try? await gracefulShutdown()
    }
}
