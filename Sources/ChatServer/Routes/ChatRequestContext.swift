import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Request context that keeps the channel, so a connection whose writer is stuck
/// behind a slow client can still be closed.
package struct ChatRequestContext: RequestContext, WebSocketRequestContext {
    package var coreContext: CoreRequestContextStorage
    package let webSocket: WebSocketHandlerReference<Self>
    package let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}
