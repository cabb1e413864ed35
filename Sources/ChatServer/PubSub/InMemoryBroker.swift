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
        guard !receivers.isEmpty else { return 0 }
        let joined = payloads.joined
        for receiver in receivers { receiver.deliver(joined, frames: payloads.count) }
        return receivers.count
    }

    package func run() async throws {
        try? await gracefulShutdown()
    }
}
