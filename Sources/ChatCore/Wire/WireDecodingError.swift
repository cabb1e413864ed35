/// Why a server frame or a reply could not be decoded.
///
/// A client is tolerant of what it does not know (unknown fields are ignored), but a
/// field the protocol requires that is missing or of the wrong type is an error: a
/// decoder never invents a `0`, `""` or `false` in its place.
package struct WireDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    private enum Code: Equatable, Sendable {
        case missing
        case wrongType(expected: String)
        case invalidValue(String)
        case notJSON(String)
    }

    private let code: Code
    /// The field at fault, as a dotted path (`room.head`, `messages[2].seq`); empty for the frame.
    package let field: String
    /// The request id of the reply that failed to decode, when it could be read, so the
    /// request can be failed instead of waiting forever.
    package var id: String?

    private init(_ code: Code, field: String, id: String? = nil) {
        self.code = code
        self.field = field
        self.id = id
    }

    /// A required field is absent (or `null`).
    ///
    /// - Parameters:
    ///   - field: the field's path.
    package static func missing(_ field: String) -> WireDecodingError { .init(.missing, field: field) }

    /// A field holds a value of the wrong JSON type.
    ///
    /// - Parameters:
    ///   - field: the field's path.
    ///   - expected: what it should hold, e.g. "an integer".
    package static func wrongType(_ field: String, expected: String) -> WireDecodingError {
        .init(.wrongType(expected: expected), field: field)
    }

    /// A field holds a value outside what the protocol allows.
    ///
    /// - Parameters:
    ///   - field: the field's path.
    ///   - reason: what is wrong with it.
    package static func invalidValue(_ field: String, _ reason: String) -> WireDecodingError {
        .init(.invalidValue(reason), field: field)
    }

    /// The text is not a JSON object.
    ///
    /// - Parameters:
    ///   - reason: the parser's reason.
    package static func notJSON(_ reason: String) -> WireDecodingError { .init(.notJSON(reason), field: "") }

    /// The same error, for the reply with this id.
    ///
    /// - Parameters:
    ///   - id: the request id.
    package func withID(_ id: String?) -> WireDecodingError {
        var error = self
        error.id = id
        return error
    }

    /// Whether this error is about a missing field.
    package var isMissingField: Bool { code == .missing }

    package var description: String {
        let at = field.isEmpty ? "frame" : "'\(field)'"
        switch code {
        case .missing: return "\(at) is missing"
        case .wrongType(let expected): return "\(at) must be \(expected)"
        case .invalidValue(let reason): return "\(at) \(reason)"
        case .notJSON(let reason): return "not a JSON object: \(reason)"
        }
    }
}
