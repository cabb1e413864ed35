/// Typed, path-aware reads of the fields of a server object.
struct WireFields {
    let object: JSONObject
    let path: String

    init(_ object: JSONObject, path: String = "") {
        self.object = object
        self.path = path
    }

    func at(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The value, or nil when absent or null.
    func value(_ key: String) -> JSONValue? {
        switch object[key] {
        case nil, .null?: return nil
        case let value?: return value
        }
    }

    func required(_ key: String) throws(WireDecodingError) -> JSONValue {
        guard let value = value(key) else { throw .missing(at(key)) }
        return value
    }

    func string(_ key: String) throws(WireDecodingError) -> String {
        guard let s = try required(key).stringValue else { throw .wrongType(at(key), expected: "a string") }
        return s
    }

    func optionalString(_ key: String) throws(WireDecodingError) -> String? {
        guard value(key) != nil else { return nil }
        return try string(key)
    }

    func int(_ key: String) throws(WireDecodingError) -> Int64 {
        guard let i = try required(key).intValue else { throw .wrongType(at(key), expected: "an integer") }
        return i
    }

    func optionalInt(_ key: String) throws(WireDecodingError) -> Int64? {
        guard value(key) != nil else { return nil }
        return try int(key)
    }

    func bool(_ key: String) throws(WireDecodingError) -> Bool {
        guard let b = try required(key).boolValue else { throw .wrongType(at(key), expected: "a boolean") }
        return b
    }

    func object(_ key: String) throws(WireDecodingError) -> WireFields {
        guard let o = try required(key).objectValue else { throw .wrongType(at(key), expected: "an object") }
        return WireFields(o, path: at(key))
    }

    /// Decodes each element of an array field as an object.
    func objects<T>(
        _ key: String,
        _ decode: (WireFields) throws(WireDecodingError) -> T
    ) throws(WireDecodingError) -> [T] {
        guard let items = try required(key).arrayValue else { throw .wrongType(at(key), expected: "an array") }
        var out: [T] = []
        out.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let itemPath = "\(at(key))[\(index)]"
            guard let o = item.objectValue else { throw .wrongType(itemPath, expected: "an object") }
            out.append(try decode(WireFields(o, path: itemPath)))
        }
        return out
    }
}
