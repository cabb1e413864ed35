import ChatCore

/// Checks that ChatCore's typed wire values reproduce a server frame byte for byte:
/// the frame is decoded (an `ok` as the reply to the request it answers) and encoded
/// again. A server that writes its frames with these encoders always passes; a
/// difference means the typed values and the server disagree about the wire.
package enum WireCheck {
    /// nil when the frame re-encodes to itself, else what differs.
    ///
    /// - Parameters:
    ///   - text: a frame as the server sent it.
    ///   - requestType: for an `ok`, the `type` of the request it answers (nil: unknown, not checked).
    package static func difference(_ text: String, answering requestType: String?) -> String? {
        let frame: ServerFrame
        do {
            frame = try ServerFrame(text: text)
        } catch {
            return "\(error) in \(text)"
        }
        let encoded: JSONValue
        switch frame {
        case .ok(let id, let body):
            guard let requestType else { return nil }
            do {
                encoded = try WireReplies.type(answering: requestType).init(json: body).frame(id: id)
            } catch {
                return "\(requestType) reply: \(error) in \(text)"
            }
        case .error, .event:
            encoded = frame.json
        }
        let again = encoded.jsonString
        return again == text ? nil : "server wrote \(text), typed values give \(again)"
    }
}
