/// A client request, typed: its wire `type` and fields, so a client never builds
/// request JSON by hand.
package protocol WireRequest: Sendable {
    /// The request's `type` on the wire.
    var wireType: String { get }

    /// The request's fields without `type` and `id`, in the order PROTOCOL.md lists them.
    var fields: JSONObject { get }
}

extension WireRequest {
    /// The whole request object: `{"type":…,"id":…, ...fields}`.
    ///
    /// - Parameters:
    ///   - id: the request id (1–64 characters).
    package func json(id: String) -> JSONObject {
        var o: JSONObject = ["type": .string(wireType), "id": .string(id)]
        o.fields.append(contentsOf: fields.fields)
        return o
    }

    /// The request frame's text, ready to send.
    ///
    /// - Parameters:
    ///   - id: the request id.
    package func text(id: String) -> String { JSONValue.object(json(id: id)).jsonString }
}
