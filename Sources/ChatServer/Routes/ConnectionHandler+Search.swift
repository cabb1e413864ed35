import ChatCore
import Logging

extension ConnectionHandler {
    /// Answers a `search` request (an extension of protocol v1, see docs/PROTOCOL.md).
    ///
    /// - Parameters:
    ///   - id: request id.
    ///   - body: the request object.
    ///   - conn: the connection.
    ///   - helloDone: whether `hello` was answered.
    ///   - authenticated: whether the connection is authenticated.
    func handleSearch(id: String, body: JSONObject, conn: Connection, helloDone: Bool, authenticated: Bool) async {
        guard helloDone else {
            conn.reject(id: id, ProtocolError(.helloRequired, "send hello first"))
            return
        }
        guard authenticated else {
            conn.reject(id: id, ProtocolError(.unauthorized, "authenticate first"))
            return
        }
        guard let search else {
            conn.reject(id: id, ProtocolError(.internal, "search is not available on this server"))
            return
        }
        let request: SearchRequest
        switch SearchRequest.parse(body) {
        case .success(let r): request = r
        case .failure(let error):
            conn.reject(id: id, error)
            return
        }
        // Results carry whole texts: refused before they are looked up when the worst case
        // would not fit in what the connection may have queued.
        let worstCase = request.limit * (configuration.limits.maxText * 8 + 512)
        guard conn.fits(worstCase) else {
            conn.reject(id: id, ProtocolError.replyWouldNotFit(bytes: worstCase))
            return
        }
        switch await search.search(conn, request) {
        case .success(let fields): conn.send(Frames.ok(id: id, fields))
        case .failure(let error): conn.reject(id: id, error)
        }
    }
}
