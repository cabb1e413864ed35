import ChatCore

/// The per-user token buckets: messages, reads, membership changes and new rooms.
extension HubCore {
    /// Which of a user's buckets a request takes from.
    enum Bucket: Sendable, CaseIterable {
        /// `send`, `typing`, `topic` (advertised: `rate_per_sec`, `rate_burst`).
        case message
        /// `history`, `rooms`, `members`, `join`, `search` (advertised: `read_per_sec`, `read_burst`).
        case read
        /// A `join` that makes the user a member, a `leave`, a `create`, an `invite`, a `kick`
        /// (`--membership-changes-per-min`).
        case membership
        /// A `join`, `create` or `dm` that makes a room (`--room-creation-per-min`).
        case roomCreation
        /// `POST /v1/files` (`--uploads-per-min`).
        case upload

        var refusal: String {
            switch self {
            case .message: "too many messages; slow down"
            case .read: "too many requests; slow down"
            case .membership: "too many joins and leaves; slow down"
            case .roomCreation: "too many new rooms; try again later"
            case .upload: "too many uploads; try again later"
            }
        }
    }

    /// A full bucket of a kind, as configured.
    func newBucket(_ kind: Bucket, at now: HubTime) -> TokenBucket {
        let limits = configuration.limits
        switch kind {
        case .message:
            return TokenBucket(rate: limits.ratePerSec, burst: limits.rateBurst, now: now.monotonic)
        case .read:
            return TokenBucket(rate: limits.readPerSec, burst: limits.readBurst, now: now.monotonic)
        case .membership:
            let perMinute = configuration.membershipChangesPerMinute
            return TokenBucket(rate: perMinute / 60, burst: max(1, Int(perMinute)), now: now.monotonic)
        case .roomCreation:
            let perMinute = configuration.roomCreationPerMinute
            return TokenBucket(rate: perMinute / 60, burst: max(1, Int(perMinute)), now: now.monotonic)
        case .upload:
            let perMinute = Double(limits.uploadsPerMinute)
            return TokenBucket(rate: perMinute / 60, burst: max(1, Int(perMinute)), now: now.monotonic)
        }
    }

    /// Takes from several of a user's buckets at once, or from none: when one of them is short,
    /// the request is refused with `rate_limited` and the others keep their tokens.
    ///
    /// - Parameters:
    ///   - costs: the buckets and what each takes.
    ///   - user: the user's fold key.
    ///   - now: the time.
    mutating func take(_ costs: [(Bucket, Int)], user: String, at now: HubTime) throws(ProtocolError) {
        for (kind, cost) in costs {
            let bucket = buckets[kind]?[user] ?? newBucket(kind, at: now)
            if let wait = bucket.wait(cost: Double(cost), now: now.monotonic) {
                throw ProtocolError(.rateLimited, kind.refusal, retryAfterMs: wait)
            }
        }
        for (kind, cost) in costs {
            var bucket = buckets[kind]?[user] ?? newBucket(kind, at: now)
            _ = bucket.take(cost: Double(cost), now: now.monotonic)
            buckets[kind, default: [:]][user] = bucket
        }
    }

    /// Takes one token from the user's message bucket (sends, typing, topic).
    mutating func takeMessageToken(_ user: String, at now: HubTime) throws(ProtocolError) {
        try take([(.message, 1)], user: user, at: now)
    }

    /// Takes one read token (`history`, `rooms`, `members`).
    mutating func takeReadToken(_ user: String, at now: HubTime) throws(ProtocolError) {
        try take([(.read, 1)], user: user, at: now)
    }
}
