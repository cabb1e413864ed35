import Foundation

/// The Unicode TR39 skeleton of a string: two strings that look alike (`paypal` with a Latin
/// `a` and `pаypal` with a Cyrillic `а`) have the same skeleton. The algorithm of UTS #39
/// §4: NFD, then each scalar replaced by its prototype from confusables.txt, then NFD again.
///
/// A skeleton is only for comparing; never show or store it as a name. It does not fold
/// case (`A` and `a` differ): compare skeletons of fold keys to ignore case too.
///
/// - Parameters:
///   - s: the string.
package func confusableSkeleton(_ s: String) -> String {
    var mapped = String.UnicodeScalarView()
    for scalar in s.decomposedStringWithCanonicalMapping.unicodeScalars {
        if let prototype = ConfusableTable.prototypes[scalar.value] {
            mapped.append(contentsOf: prototype)
        } else {
            mapped.append(scalar)
        }
    }
    return String(mapped).decomposedStringWithCanonicalMapping
}

/// The confusables data of UTS #39 (generated into `ConfusableTable.swift` by
/// `scripts/gen-confusables.py`).
package enum ConfusableTable {
    /// Source scalar → prototype scalars, parsed from `data` on first use.
    package static let prototypes: [UInt32: [Unicode.Scalar]] = {
        var table: [UInt32: [Unicode.Scalar]] = [:]
        table.reserveCapacity(count)
        // Line breaks fall only between entries.
        for entry in data.split(whereSeparator: { $0 == ";" || $0.isNewline }) {
            let parts = entry.split(separator: ">", maxSplits: 1)
            guard parts.count == 2, let source = UInt32(parts[0], radix: 16) else { continue }
            table[source] = parts[1].split(separator: " ").compactMap {
                UInt32($0, radix: 16).flatMap(Unicode.Scalar.init)
            }
        }
        return table
    }()
}
