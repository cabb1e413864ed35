import ChatCore
import Foundation
import Testing

@Suite("Confusable skeleton (UTS #39)")
struct ConfusableSkeletonTests {
    @Test("pаypal with a Cyrillic а has the skeleton of paypal")
    func cyrillicA() {
        let spoof = "p\u{430}ypal"
        #expect(spoof != "paypal")
        #expect(confusableSkeleton(spoof) == confusableSkeleton("paypal"))
    }

    @Test(
        "look-alikes share a skeleton",
        arguments: [
            ("\u{3BF}", "o"),  // Greek omicron
            ("\u{41E}", "O"),  // Cyrillic capital O
            ("\u{FF41}", "a"),  // fullwidth a
            ("\u{217C}", "l"),  // small roman numeral fifty
            ("1", "l"),  // digit one looks like l
            ("\u{0440}\u{0435}\u{0440}", "pep"),  // Cyrillic р е р
            ("e\u{301}", "\u{E9}"),  // NFD and NFC
            ("\u{3C1}", "p"),  // Greek rho
        ]
    )
    func lookAlikes(a: String, b: String) {
        #expect(confusableSkeleton(a) == confusableSkeleton(b), "\(a) vs \(b)")
    }

    @Test(
        "different-looking names keep different skeletons",
        arguments: [("alice", "alicf"), ("bob", "b0x"), ("日本", "日木")]
    )
    func different(a: String, b: String) {
        #expect(confusableSkeleton(a) != confusableSkeleton(b))
    }

    @Test("the skeleton of plain ASCII letters is itself, apart from the look-alike digits and letters")
    func ascii() {
        #expect(confusableSkeleton("paypal") == "paypal")
        #expect(confusableSkeleton("alice") == "alice")
        #expect(confusableSkeleton("") == "")
    }

    @Test("the skeleton is in NFD (also where a prototype is longer, m → rn)")
    func nfd() {
        for name in ["Straße", "Ωμέγα", "p\u{430}ypal", "\u{E1}\u{302}", "한국어", "ǅemal"] {
            let skeleton = confusableSkeleton(name)
            #expect(
                Array(skeleton.unicodeScalars) == Array(skeleton.decomposedStringWithCanonicalMapping.unicodeScalars)
            )
        }
        #expect(Array(confusableSkeleton("m").unicodeScalars) == ["r", "n"])
        #expect(confusableSkeleton("rn") == confusableSkeleton("m"))
    }

    @Test("alice and alice + U+034F never reach the skeleton: the name rules refuse the invisible joiner")
    func invisibleRefused() throws {
        _ = try TextRules.userName("alice").get()
        #expect(throws: ProtocolError.self) { try TextRules.userName("alice\u{34F}").get() }
    }

    @Test("the whole table is loaded")
    func table() {
        #expect(ConfusableTable.prototypes.count > 6000)
        #expect(ConfusableTable.prototypes[0x430] == ["a"])
    }
}
