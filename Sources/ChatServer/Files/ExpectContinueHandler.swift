import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` on an upload (`POST /v1/files`) with `100 Continue`, so
/// clients that wait for it (curl does above 1 MiB) send the body at once instead of after a
/// timeout. Hummingbird does not send `100` itself. An upload whose `Content-Length` is over
/// the limit gets no `100`: the route refuses it (413) before its body is sent.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    let maxFileBytes: Int64

    init(maxFileBytes: Int64) { self.maxFileBytes = maxFileBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), head.method == .post, head.path == "/v1/files",
            head.headerFields[.expect]?.lowercased() == "100-continue", maxFileBytes > 0,
            (head.headerFields[.contentLength].flatMap { Int64($0) } ?? 0) <= maxFileBytes
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
