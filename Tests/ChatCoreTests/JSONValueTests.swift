import ChatCore
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test(
        "intValue",
        arguments: [
            (JSONValue.int(5), Int64?.some(5)),
            (.int(-3), -3),
            (.double(3.0), 3),
            (.double(-2.0), -2),
            (.double(3.5), nil),
            (.double(1e16), nil),
            (.double(.infinity), nil),
            (.string("5"), nil),
            (.bool(true), nil),
            (.null, nil),
        ]
    )
    func intValue(value: JSONValue, expected: Int64?) {
        #expect(value.intValue == expected)
    }

    @Test("typed accessors")
    func accessors() {
        #expect(JSONValue.string("s").stringValue == "s")
        #expect(JSONValue.int(1).stringValue == nil)
        #expect(JSONValue.invalidString.stringValue == nil)
        #expect(JSONValue.bool(false).boolValue == false)
        #expect(JSONValue.int(0).boolValue == nil)
        #expect(JSONValue.array([1]).arrayValue == [1])
        #expect(JSONValue.object([:]).arrayValue == nil)
        #expect(JSONValue.object(["a": 1]).objectValue == ["a": 1])
        #expect(JSONValue.array([]).objectValue == nil)
    }

    @Test("JSONObject subscript reads, replaces in place, appends and removes")
    func objectSubscript() {
        var object: JSONObject = ["a": 1, "b": 2]
        #expect(object["a"] == 1)
        #expect(object["missing"] == nil)
        object["a"] = "x"
        object["c"] = .null
        #expect(object.fields.map(\.key) == ["a", "b", "c"])
        #expect(object["a"] == "x")
        #expect(object["c"] == .null)
        object["b"] = nil
        #expect(object.fields.map(\.key) == ["a", "c"])
        #expect(JSONValue.object(object).jsonString == #"{"a":"x","c":null}"#)
    }
}
