/// A JSON value as the protocol sees it.
///
/// Numbers keep integers exact (`.int`) and fall back to `.double` only for
/// fractions, exponents and integers outside `Int64`. A string that contained an
/// unpaired UTF-16 surrogate escape cannot be a Swift `String`; it parses as
/// `.invalidString`, so the request that carried it can still be answered by `id`.
package enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case invalidString
    case array([JSONValue])
    case object(JSONObject)
}

/// An ordered JSON object. Protocol objects are small, so lookup is a linear scan.
package struct JSONObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// The fields in the order they were written or parsed.
    package var fields: [(key: String, value: JSONValue)]

    /// Creates an object from ordered fields.
    ///
    /// - Parameters:
    ///   - fields: key/value pairs, in order.
    package init(_ fields: [(key: String, value: JSONValue)] = []) {
        self.fields = fields
    }

    /// Creates an object from a literal; order is kept.
    ///
    /// - Parameters:
    ///   - elements: key/value pairs.
    package init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.fields = elements.map { (key: $0.0, value: $0.1) }
    }

    /// The value for `key`, or nil.
    ///
    /// - Parameters:
    ///   - key: field name.
    package subscript(key: String) -> JSONValue? {
        get {
            for field in fields where field.key == key { return field.value }
            return nil
        }
        set {
            if let index = fields.firstIndex(where: { $0.key == key }) {
                if let newValue { fields[index].value = newValue } else { fields.remove(at: index) }
            } else if let newValue {
                fields.append((key: key, value: newValue))
            }
        }
    }

    package static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByArrayLiteral
{
    package init(stringLiteral value: String) { self = .string(value) }
    package init(integerLiteral value: Int64) { self = .int(value) }
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    package init(nilLiteral: ()) { self = .null }
    package init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue {
    /// The string payload, if this is a string.
    package var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer payload, if this is an integer (a double with no fraction counts).
    package var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int64(d)
        default: return nil
        }
    }

    /// The boolean payload, if this is a boolean.
    package var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The object payload, if this is an object.
    package var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The array payload, if this is an array.
    package var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
