import ChatCore
import Foundation

/// Runs the data-only test vectors in `conformance/vectors/*.json` (format in that
/// folder's README) as conformance cases named `vector.<name>`.
package enum Vectors {
    /// Loads every vector in a directory, sorted by file name.
    ///
    /// - Parameters:
    ///   - directory: the folder of `*.json` files.
    package static func load(directory: String) throws -> [ConformanceCase] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
            .sorted()
        return try names.map { name in
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConformanceFailure("cannot read \(path)")
            }
            let value = try JSONParser(maxDepth: 64).parse(String(decoding: data, as: UTF8.self))
            guard let object = value.objectValue, let vectorName = object["name"]?.stringValue,
                let section = object["section"]?.stringValue, let steps = object["steps"]?.arrayValue
            else { throw ConformanceFailure("\(path): needs name, section and steps") }
            return ConformanceCase("vector.\(vectorName)", section: section) { context in
                try await run(steps, context: context, file: name)
            }
        }
    }

    /// The default folder, relative to the working directory, if present.
    package static var defaultDirectory: String? {
        let path = FileManager.default.currentDirectoryPath + "/conformance/vectors"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    static func run(_ steps: [JSONValue], context: ConformanceContext, file: String) async throws {
        let names = [
            "$user2": context.unique("v2"), "$room2": context.unique("vr2"), "$user": context.unique("v"),
            "$room": context.unique("vr"),
        ]
        func substitute(_ text: String) -> String {
            var text = text
            for key in ["$user2", "$room2", "$user", "$room"] {
                text = text.replacingOccurrences(of: key, with: names[key] ?? key)
            }
            return text
        }
        func substitute(_ value: JSONValue) -> JSONValue {
            switch value {
            case .string(let s): return .string(substitute(s))
            case .array(let a): return .array(a.map(substitute))
            case .object(let o): return .object(JSONObject(o.fields.map { (key: $0.key, value: substitute($0.value)) }))
            default: return value
            }
        }
        let client = try await context.connect()
        for (index, rawStep) in steps.enumerated() {
            guard let step = rawStep.objectValue, let (kind, argument) = step.fields.first.map({ ($0.key, $0.value) })
            else { throw ConformanceFailure("\(file) step \(index + 1): not an object") }
            let at = "\(file) step \(index + 1) (\(kind))"
            switch kind {
            case "send":
                guard case .object(let o) = substitute(argument) else {
                    throw ConformanceFailure("\(at): needs an object")
                }
                try await client.send(o)
            case "send_text":
                try await client.sendText(substitute(argument.stringValue ?? ""))
            case "send_binary":
                try await client.writeFrame(opcode: 0x2, payload: Array(substitute(argument.stringValue ?? "").utf8))
            case "reply":
                let expected = substitute(argument)
                let actual: JSONObject
                if let id = expected.objectValue?["id"]?.stringValue {
                    actual = try await client.reply(to: id)
                } else {
                    actual = try await client.nextReplyWithoutID()
                }
                if let mismatch = match(expected, .object(actual), path: "") {
                    throw ConformanceFailure("\(at): \(mismatch) in \(JSONValue.object(actual).jsonString)")
                }
            case "event":
                let expected = substitute(argument)
                guard let type = expected.objectValue?["type"]?.stringValue else {
                    throw ConformanceFailure("\(at): an event needs a type")
                }
                let actual = try await client.nextEvent(type)
                if let mismatch = match(expected, .object(actual), path: "") {
                    throw ConformanceFailure("\(at): \(mismatch) in \(JSONValue.object(actual).jsonString)")
                }
            case "close":
                let code = try await client.waitForClose()
                try checkEqual(code.map(Int64.init), argument.intValue, "\(at): close code")
            default:
                throw ConformanceFailure("\(at): unknown step kind")
            }
        }
        await client.disconnect()
    }

    /// nil when `actual` matches `expected` (subset match with placeholders), else why not.
    ///
    /// - Parameters:
    ///   - expected: the vector's value.
    ///   - actual: the server's value.
    ///   - path: where in the frame (for messages).
    package static func match(_ expected: JSONValue, _ actual: JSONValue?, path: String) -> String? {
        let at = path.isEmpty ? "frame" : path
        switch expected {
        case .string("<any>"):
            return actual == nil ? "\(at) is missing" : nil
        case .string("<string>"):
            if case .string? = actual { return nil }
            return "\(at) should be a string"
        case .string("<int>"):
            if case .int? = actual { return nil }
            return "\(at) should be an integer"
        case .string("<bool>"):
            if case .bool? = actual { return nil }
            return "\(at) should be a boolean"
        case .object(let o):
            guard case .object(let a)? = actual else { return "\(at) should be an object" }
            for field in o.fields {
                if let mismatch = match(field.value, a[field.key], path: path + "." + field.key) { return mismatch }
            }
            return nil
        case .array(let items):
            guard case .array(let a)? = actual else { return "\(at) should be an array" }
            guard a.count == items.count else { return "\(at) should have \(items.count) elements, has \(a.count)" }
            for (i, item) in items.enumerated() {
                if let mismatch = match(item, a[i], path: "\(path)[\(i)]") { return mismatch }
            }
            return nil
        default:
            guard let actual else { return "\(at) is missing (expected \(expected.jsonString))" }
            return expected == actual ? nil : "\(at) should be \(expected.jsonString), is \(actual.jsonString)"
        }
    }
}
