import ChatCore
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// A swift-log handler that writes one JSON object per line (`--log-format json`), for
/// journald, Vector, Loki or Elastic: `time` (RFC 3339, UTC, milliseconds), `level`, `label`,
/// `message`, then every metadata key as a field of its own (`chat.conn.id`, `chat.user`,
/// `chat.room`, `chat.request.id`, `chat.request.type`, `chat.error.code`, ...).
///
/// Hand-written: swift-log ships only a text handler, and swift-otel's handler exports over
/// OTLP, not to a stream.
///
/// Secrets never reach a line even if a caller passes them: a metadata key whose last
/// dot-separated part is `password`, `token`, `secret` or `text` is written as `"<redacted>"`.
/// Lines are terminal-safe JSON (`terminalSafeJSONString`): no control, C1 or bidi scalar is
/// written raw, so `journalctl` or `tail` on a terminal never acts on one.
package struct JSONLogHandler: LogHandler {
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: LogSink

    /// - Parameters:
    ///   - label: the logger's label.
    ///   - sink: where the lines go (standard error by default).
    package init(label: String, sink: LogSink = .standardError) {
        self.label = label
        self.sink = sink
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        sink.write(
            Self.line(
                time: LogSink.now(),
                level: event.level,
                label: label,
                message: event.message.description,
                metadata: fields
            )
        )
    }

    /// Keys never written in clear (their last dot-separated part).
    static let secretKeys: Set<Substring> = ["password", "token", "secret", "text"]

    /// One line: the JSON object and a newline.
    ///
    /// - Parameters:
    ///   - time: seconds and nanoseconds since the epoch.
    ///   - level: level.
    ///   - label: logger label.
    ///   - message: message.
    ///   - metadata: every metadata key (the handler's, the provider's and the call's).
    package static func line(
        time: (seconds: Int, nanoseconds: Int),
        level: Logger.Level,
        label: String,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        var timestamp = ""
        appendRFC3339(time, to: &timestamp)
        var fields: [(key: String, value: JSONValue)] = [
            ("time", .string(timestamp)), ("level", .string(level.rawValue)), ("label", .string(label)),
            ("message", .string(message)),
        ]
        for key in metadata.keys.sorted() where !reserved.contains(key) {
            let last = key.split(separator: ".").last ?? Substring(key)
            fields.append((key, secretKeys.contains(last) ? "<redacted>" : json(metadata[key]!)))
        }
        return JSONValue.object(JSONObject(fields)).terminalSafeJSONString + "\n"
    }

    /// Field names the line itself uses; a metadata key with one of them is left out.
    private static let reserved: Set<String> = ["time", "level", "label", "message"]

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(json))
        case .dictionary(let d): .object(JSONObject(d.keys.sorted().map { ($0, json(d[$0]!)) }))
        }
    }

    /// `2026-12-06T18:40:01.123Z`.
    static func appendRFC3339(_ time: (seconds: Int, nanoseconds: Int), to out: inout String) {
        var t = time_t(time.seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ value: Int32, _ width: Int) {
            let digits = String(value)
            if digits.count < width { out += String(repeating: "0", count: width - digits.count) }
            out += digits
        }
        pad(parts.tm_year + 1900, 4)
        out += "-"
        pad(parts.tm_mon + 1, 2)
        out += "-"
        pad(parts.tm_mday, 2)
        out += "T"
        pad(parts.tm_hour, 2)
        out += ":"
        pad(parts.tm_min, 2)
        out += ":"
        pad(parts.tm_sec, 2)
        out += "."
        pad(Int32(time.nanoseconds / 1_000_000), 3)
        out += "Z"
    }
}

/// Where log lines go: each line in one `write(2)`, under a lock, so lines from different
/// threads never interleave. A line that cannot be written (a full disk under a redirected
/// stderr, a closed pipe) is dropped: logging never blocks or fails the server.
package final class LogSink: Sendable {
    private let fd: Int32
    private let lock = Mutex(())
    /// Lines kept in memory instead of written (tests).
    private let captured = Mutex<[String]>([])
    private let capture: Bool

    private init(fd: Int32, capture: Bool) {
        self.fd = fd
        self.capture = capture
    }

    package static let standardError = LogSink(fd: 2, capture: false)

    /// A sink that keeps its lines (tests).
    package static func capturing() -> LogSink { LogSink(fd: -1, capture: true) }

    /// The lines a capturing sink kept.
    package var lines: [String] { captured.withLock { $0 } }

    func write(_ line: String) {
        if capture {
            captured.withLock { $0.append(line) }
            return
        }
        var line = line
        lock.withLock { _ in
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if n > 0 {
                        offset += n
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }

    static func now() -> (seconds: Int, nanoseconds: Int) {
        let now = Date().timeIntervalSince1970
        let seconds = now.rounded(.down)
        return (Int(seconds), Int((now - seconds) * 1e9))
    }
}
