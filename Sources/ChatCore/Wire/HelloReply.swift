/// The `ok` reply to `hello`: `{server, version, limits, features}`.
package struct HelloReply: WireReply {
    /// The server's `name/version`.
    package var server: String
    /// The protocol version it speaks (1).
    package var version: Int64
    /// The limits it advertises.
    package var limits: Limits
    /// The optional features it supports (`ServerFeature`); empty when a server does not say.
    package var features: [String]

    /// Creates a hello reply.
    ///
    /// - Parameters:
    ///   - server: `name/version` of the server.
    ///   - version: protocol version.
    ///   - limits: the advertised limits.
    ///   - features: the optional features supported.
    package init(server: String, version: Int64 = 1, limits: Limits, features: [String] = []) {
        self.server = server
        self.version = version
        self.limits = limits
        self.features = features
    }

    /// Decodes a hello reply; each of the five limits of the contract is required, the read
    /// bucket's (`read_per_sec`, `read_burst`, an extension) are optional: 0 when the server
    /// does not advertise them. `features` is optional too (none).
    ///
    /// - Parameters:
    ///   - json: the `ok` object.
    package init(json: JSONObject) throws(WireDecodingError) {
        let f = WireFields(json)
        let l = try f.object("limits")
        let rate: Double
        switch try l.required("rate_per_sec") {
        case .int(let i): rate = Double(i)
        case .double(let d): rate = d
        default: throw .wrongType(l.at("rate_per_sec"), expected: "a number")
        }
        var read = Limits(json: l.object)
        if l.value("read_per_sec") == nil || l.value("read_burst") == nil {
            read.readPerSec = 0
            read.readBurst = 0
        }
        var limits = Limits(
            maxFrame: Int(try l.int("max_frame")),
            maxText: Int(try l.int("max_text")),
            historyLimit: Int(try l.int("history_limit")),
            ratePerSec: rate,
            rateBurst: Int(try l.int("rate_burst")),
            readPerSec: read.readPerSec,
            readBurst: read.readBurst
        )
        limits.maxFileBytes = read.maxFileBytes
        limits.fileQuotaBytes = read.fileQuotaBytes
        limits.uploadsPerMinute = read.uploadsPerMinute
        self.init(
            server: try f.string("server"),
            version: try f.int("version"),
            limits: limits,
            features: try Self.features(f)
        )
    }

    private static func features(_ f: WireFields) throws(WireDecodingError) -> [String] {
        guard let value = f.value("features") else { return [] }
        guard let items = value.arrayValue else { throw .wrongType(f.at("features"), expected: "an array") }
        var out: [String] = []
        for (index, item) in items.enumerated() {
            guard let s = item.stringValue else { throw .wrongType("features[\(index)]", expected: "a string") }
            out.append(s)
        }
        return out
    }

    /// `{"server":…,"version":…,"limits":{…},"features":[…]}`.
    package var json: JSONObject {
        [
            "server": .string(server), "version": .int(version), "limits": limits.json,
            "features": .array(features.map { .string($0) }),
        ]
    }
}
