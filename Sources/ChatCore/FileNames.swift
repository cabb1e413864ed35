/// File names: what a server accepts from an upload, what a client may write to disk, and the
/// `Content-Disposition` header both sides use.
package enum FileNames {
    /// Longest accepted name in UTF-8 bytes (the common file system limit).
    package static let maxBytes = 255

    /// Whether a scalar must not be in a file name: C0 and C1 controls, DEL, and the
    /// format characters that reorder or hide text (bidi controls, zero-width joiners aside).
    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return true
        default: return false
        }
    }

    /// The name a server stores for an upload: the last path component of what the client
    /// sent (`/` and `\` separate components), at most `maxBytes` bytes, not `.` or `..`, no
    /// control characters. Nil or empty input gives `file`.
    ///
    /// - Parameters:
    ///   - raw: the name from `Content-Disposition`, if any.
    /// - Returns: the name, or why it is refused.
    package static func uploadName(_ raw: String?) -> Result<String, ProtocolError> {
        guard let raw, !raw.isEmpty else { return .success("file") }
        if raw.unicodeScalars.contains(where: isRefused) {
            return .failure(.badRequest("the file name holds control characters"))
        }
        let last = raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let name = last.trimmingSpaces
        guard !name.isEmpty, name != ".", name != ".." else { return .success("file") }
        guard name.utf8.count <= maxBytes else {
            return .failure(.badRequest("the file name is longer than \(maxBytes) bytes"))
        }
        return .success(name)
    }

    /// A name from a server made safe to create in a download directory: one path component
    /// (separators become `_`), no control or bidi characters (become `_`), no leading dots
    /// (a hidden or `..` name), at most `maxBytes` bytes (cut on a scalar boundary, keeping
    /// the extension when it is short). Never empty.
    ///
    /// - Parameters:
    ///   - name: the name a message carries.
    package static func safeLocalName(_ name: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            scalars.append(scalar == "/" || scalar == "\\" || isRefused(scalar) ? "_" : scalar)
        }
        var safe = String(scalars).trimmingSpaces
        while safe.hasPrefix(".") { safe.removeFirst() }
        if safe.isEmpty { safe = "file" }
        if safe.utf8.count > maxBytes {
            let ext = safe.split(separator: ".", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            let suffix = safe.contains(".") && ext.utf8.count <= 16 ? "." + ext : ""
            var stem = String.UnicodeScalarView()
            var bytes = 0
            for scalar in safe.unicodeScalars {
                let n = String(scalar).utf8.count
                if bytes + n > maxBytes - suffix.utf8.count { break }
                stem.append(scalar)
                bytes += n
            }
            safe = String(stem) + suffix
        }
        return safe
    }

    /// `name (1).ext`, `name (2).ext`, …: the `n`th name to try when `name` exists.
    ///
    /// - Parameters:
    ///   - name: a safe local name.
    ///   - n: the attempt, from 1.
    package static func numbered(_ name: String, _ n: Int) -> String {
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            return String(name[..<dot]) + " (\(n))" + String(name[dot...])
        }
        return name + " (\(n))"
    }

    /// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266, RFC 8187).
    ///
    /// - Parameters:
    ///   - name: the file name.
    package static func contentDisposition(_ name: String) -> String {
        var ascii = ""
        for scalar in name.unicodeScalars {
            if scalar.isASCII, scalar.value >= 0x20, scalar != "\"", scalar != "\\", scalar.value != 0x7F {
                ascii.unicodeScalars.append(scalar)
            } else {
                ascii.append("_")
            }
        }
        return "attachment; filename=\"\(ascii)\"; filename*=UTF-8''" + percentEncoded(name)
    }

    /// The file name of a `Content-Disposition` header: `filename*` (UTF-8) preferred over
    /// `filename`; nil when there is neither, or when it cannot be decoded.
    ///
    /// - Parameters:
    ///   - header: the header's value.
    package static func parseContentDisposition(_ header: String) -> String? {
        var plain: String?
        for part in splitParameters(header) {
            guard let eq = part.firstIndex(of: "=") else { continue }
            let key = part[..<eq].trimmingSpaces.lowercased()
            var value = part[part.index(after: eq)...].trimmingSpaces
            if key == "filename*" {
                let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { continue }
                if let decoded = percentDecoded(String(pieces[2])) { return decoded }
            } else if key == "filename" {
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                    var unescaped = ""
                    var escaping = false
                    for c in value {
                        if escaping || c != "\\" {
                            unescaped.append(c)
                            escaping = false
                        } else {
                            escaping = true
                        }
                    }
                    value = unescaped
                }
                plain = value
            }
        }
        return plain
    }

    /// Splits on `;` outside quoted strings.
    private static func splitParameters(_ header: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var quoted = false
        var escaping = false
        for c in header {
            if escaping {
                escaping = false
            } else if c == "\\" && quoted {
                escaping = true
            } else if c == "\"" {
                quoted.toggle()
            } else if c == ";" && !quoted {
                parts.append(current)
                current = ""
                continue
            }
            current.append(c)
        }
        parts.append(current)
        return parts
    }

    /// RFC 3986 unreserved bytes stay; every other byte is `%XX`.
    package static func percentEncoded(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in s.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.append(byte)
            default: out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes; nil when an escape is malformed or the bytes are not UTF-8.
    package static func percentDecoded(_ s: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(s.utf8).makeIterator()
        func nibble(_ b: UInt8?) -> UInt8? {
            switch b {
            case let b? where b >= 0x30 && b <= 0x39: return b - 0x30
            case let b? where b >= 0x41 && b <= 0x46: return b - 0x37
            case let b? where b >= 0x61 && b <= 0x66: return b - 0x57
            default: return nil
            }
        }
        while let byte = iterator.next() {
            if byte == 0x25 {
                guard let high = nibble(iterator.next()), let low = nibble(iterator.next()) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
