/// A file as a message carries it (`kind: "file"`): what `POST /v1/files` answered.
package struct FileRef: Sendable, Equatable {
    /// The file's id: derived from its content hash and its uploader.
    package var id: String
    /// The name the uploader gave (never a path: see `FileNames.safe(_:)` on the client).
    package var name: String
    /// The media type the uploader declared.
    package var mime: String
    /// Size in bytes.
    package var size: Int64
    /// SHA-256 of the content, lowercase hex (also the download's `ETag`).
    package var sha256: String

    /// Creates a file reference.
    ///
    /// - Parameters:
    ///   - id: the file id.
    ///   - name: the file name.
    ///   - mime: the media type.
    ///   - size: size in bytes.
    ///   - sha256: content hash, lowercase hex.
    package init(id: String, name: String, mime: String, size: Int64, sha256: String) {
        self.id = id
        self.name = name
        self.mime = mime
        self.size = size
        self.sha256 = sha256
    }

    /// `{"id","name","mime","size","sha256"}`.
    package var json: JSONObject {
        [
            "id": .string(id), "name": .string(name), "mime": .string(mime), "size": .int(size),
            "sha256": .string(sha256),
        ]
    }

    /// Decodes a file object.
    ///
    /// - Parameters:
    ///   - f: the object's fields.
    init(fields f: WireFields) throws(WireDecodingError) {
        self.init(
            id: try f.string("id"),
            name: try f.string("name"),
            mime: try f.string("mime"),
            size: try f.int("size"),
            sha256: try f.string("sha256")
        )
    }

    /// Decodes a file object (the body of a `201` upload reply).
    ///
    /// - Parameters:
    ///   - json: the object.
    package init(wire json: JSONObject) throws(WireDecodingError) {
        try self.init(fields: WireFields(json))
    }

    /// Whether a string is shaped like a file id: 32 lowercase hex digits.
    ///
    /// - Parameters:
    ///   - id: the candidate.
    package static func isValidID(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Whether a string is a SHA-256 in lowercase hex (64 digits).
    ///
    /// - Parameters:
    ///   - hash: the candidate.
    package static func isValidHash(_ hash: String) -> Bool {
        hash.utf8.count == 64 && hash.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// A size for people: `812 B`, `1.2 KB`, `3.4 MB`, `1.1 GB` (powers of 1000, as file managers show).
    ///
    /// - Parameters:
    ///   - bytes: the size.
    package static func humanSize(_ bytes: Int64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["KB", "MB", "GB", "TB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 999.95 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
