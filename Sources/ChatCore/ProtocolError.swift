/// A protocol error code from the contract.
package struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }

    package static let badRequest = ErrorCode(rawValue: "bad_request")
    package static let helloRequired = ErrorCode(rawValue: "hello_required")
    package static let unsupportedVersion = ErrorCode(rawValue: "unsupported_version")
    package static let unauthorized = ErrorCode(rawValue: "unauthorized")
    package static let forbidden = ErrorCode(rawValue: "forbidden")
    package static let notFound = ErrorCode(rawValue: "not_found")
    package static let conflict = ErrorCode(rawValue: "conflict")
    package static let tooLarge = ErrorCode(rawValue: "too_large")
    package static let rateLimited = ErrorCode(rawValue: "rate_limited")
    package static let `internal` = ErrorCode(rawValue: "internal")

    /// Every code the contract names.
    package static let all: [ErrorCode] = [
        .badRequest, .helloRequired, .unsupportedVersion, .unauthorized, .forbidden, .notFound, .conflict,
        .tooLarge, .rateLimited, .internal,
    ]

    package var description: String { rawValue }
}

/// An error meant for the client: it renders as an `error` reply.
package struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The contract's error code.
    package var code: ErrorCode
    /// Human-readable text.
    package var message: String
    /// For `rate_limited`: how long to wait before retrying.
    package var retryAfterMs: Int64?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the contract's code.
    ///   - message: text for people.
    ///   - retryAfterMs: for `rate_limited` only.
    package init(_ code: ErrorCode, _ message: String, retryAfterMs: Int64? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMs = retryAfterMs
    }

    package var description: String { "\(code.rawValue): \(message)" }

    package static func badRequest(_ message: String) -> ProtocolError { .init(.badRequest, message) }
}

/// WebSocket close codes the contract uses.
package enum CloseCode: UInt16, Sendable {
    case normal = 1000
    case goingAway = 1001
    case invalidPayload = 1007
    case policy = 1008
    case tooLarge = 1009
    case internalError = 1011
    case slowConsumer = 4001
    case sessionRevoked = 4002
}

/// The limits a server advertises in its `hello` reply.
package struct Limits: Sendable, Equatable {
    package var maxFrame: Int
    package var maxText: Int
    package var historyLimit: Int
    package var ratePerSec: Double
    package var rateBurst: Int
    /// Refill rate of the per-user bucket for read requests (`history`, `rooms`, `members`,
    /// `join`, `search`).
    package var readPerSec: Double
    /// Size of the read bucket.
    package var readBurst: Int
    /// Largest upload in bytes (`POST /v1/files`); 0: the server takes no files.
    package var maxFileBytes: Int64 = 0
    /// Bytes of uploads one user may keep; 0: no quota.
    package var fileQuotaBytes: Int64 = 0
    /// Uploads one user may start per minute.
    package var uploadsPerMinute: Int = 0

    /// Creates limits; defaults are the server's defaults.
    ///
    /// - Parameters:
    ///   - maxFrame: largest inbound message in bytes.
    ///   - maxText: longest message text in Unicode scalars.
    ///   - historyLimit: most messages one reply carries.
    ///   - ratePerSec: token bucket refill rate for `send`/`typing`.
    ///   - rateBurst: token bucket size.
    ///   - readPerSec: refill rate of the read bucket.
    ///   - readBurst: read bucket size.
    package init(
        maxFrame: Int = 65536,
        maxText: Int = 4000,
        historyLimit: Int = 500,
        ratePerSec: Double = 10,
        rateBurst: Int = 20,
        readPerSec: Double = 20,
        readBurst: Int = 250
    ) {
        self.maxFrame = maxFrame
        self.maxText = maxText
        self.historyLimit = historyLimit
        self.ratePerSec = ratePerSec
        self.rateBurst = rateBurst
        self.readPerSec = readPerSec
        self.readBurst = readBurst
    }

    /// What one `search` takes from the read bucket (a `history`, `rooms`, `members` or `join`
    /// takes one token).
    package static let searchReadCost = 5

    /// The wire form.
    package var json: JSONValue {
        var o: JSONObject = [
            "max_frame": .int(Int64(maxFrame)), "max_text": .int(Int64(maxText)),
            "history_limit": .int(Int64(historyLimit)), "rate_per_sec": Self.number(ratePerSec),
            "rate_burst": .int(Int64(rateBurst)), "read_per_sec": Self.number(readPerSec),
            "read_burst": .int(Int64(readBurst)),
        ]
        if maxFileBytes > 0 {
            o["max_file_bytes"] = .int(maxFileBytes)
            o["file_quota_bytes"] = .int(fileQuotaBytes)
            o["uploads_per_min"] = .int(Int64(uploadsPerMinute))
        }
        return .object(o)
    }

    /// A whole rate as a JSON integer, a fractional one as a JSON number with a fraction.
    private static func number(_ value: Double) -> JSONValue {
        value.rounded() == value && abs(value) < 1e15 ? .int(Int64(value)) : .double(value)
    }

    /// Reads limits from a `hello` reply; missing fields keep defaults.
    ///
    /// - Parameters:
    ///   - json: the `limits` object.
    package init(json: JSONObject) {
        self.init()
        if let v = json["max_frame"]?.intValue { maxFrame = Int(v) }
        if let v = json["max_text"]?.intValue { maxText = Int(v) }
        if let v = json["history_limit"]?.intValue { historyLimit = Int(v) }
        if case .double(let d) = json["rate_per_sec"] { ratePerSec = d }
        if let v = json["rate_per_sec"]?.intValue { ratePerSec = Double(v) }
        if let v = json["rate_burst"]?.intValue { rateBurst = Int(v) }
        if case .double(let d) = json["read_per_sec"] { readPerSec = d }
        if let v = json["read_per_sec"]?.intValue { readPerSec = Double(v) }
        if let v = json["read_burst"]?.intValue { readBurst = Int(v) }
        if let v = json["max_file_bytes"]?.intValue { maxFileBytes = v }
        if let v = json["file_quota_bytes"]?.intValue { fileQuotaBytes = v }
        if let v = json["uploads_per_min"]?.intValue { uploadsPerMinute = Int(v) }
    }
}
