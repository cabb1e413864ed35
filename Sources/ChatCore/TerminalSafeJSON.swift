/// JSON text made safe to print on a terminal: besides JSON's own escapes (below U+0020), DEL,
/// the C1 controls (U+0080–U+009F, among them the 8-bit CSI), the bidirectional controls
/// (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) and the line and paragraph
/// separators are written as `\uXXXX`. The result parses to the same value: these scalars can
/// only stand inside JSON strings.
extension JSONValue {
    /// `jsonString`, with the scalars a terminal would act on escaped.
    package var terminalSafeJSONString: String {
        let text = jsonString
        guard text.unicodeScalars.contains(where: Self.actsOnTerminal) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard Self.actsOnTerminal(scalar) else {
                out.append(scalar)
                continue
            }
            let hex = String(scalar.value, radix: 16, uppercase: false)
            out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
        }
        return String(out)
    }

    package static func actsOnTerminal(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x7F, 0x80...0x9F, 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
