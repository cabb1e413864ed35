import Hummingbird
import NIOCore

/// The request context of the server's HTTP routes (`/healthz`, `/metrics`); it keeps the
/// channel for handlers that need the peer.
package struct ChatRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
