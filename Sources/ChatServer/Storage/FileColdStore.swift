import ChatCore
import ChatLog
import Crypto
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The cold store on disk: one segment per room, its messages in seq order, so a page deep in
/// the past is one read at a known offset.
///
/// Files, in `<data>/cold/` (named by the first 16 bytes of the SHA-256 of the room's fold key,
/// in hex: a fold key of 64 scalars can be longer than a file name may be):
/// - `<room>.seg`: an 8-byte magic, then records (`ColdRecord`: a length, a CRC-32C, the log's
///   framed `messageAppended` record and the message's reactions, which log records leave out
///   because replaying react events rebuilds them): every message in seq order, interleaved
///   with later versions of messages already stored (an edit, a delete, a reaction) as they
///   are appended.
/// - `<room>.idx`: an 8-byte magic, then 16-byte entries (seq, offset; little endian): an
///   anchor for every 64th message (the offset of its record), and, with the seq's top bit
///   set, the offset of a message's newest version.
/// - `manifest-<generation>`: per room its fold key (hex), first seq, cold head, the
///   committed length of both files and their file generation, with a CRC.
///   `commit(generation:)` fsyncs the files it appended to, then writes this atomically;
///   opening at a generation truncates both files of every room to that manifest's lengths, so
///   what a crash left after the last commit is dropped.
/// - After a delete (a version without the text it had, or a blanked edit event), and when
///   messages expire (`expire`, retention), the room is rewritten into `<room>.<n>.seg` / `.idx`
///   (file generation n): each message once, in its newest version (an expired one as a
///   tombstone), so the deleted text leaves the disk once `forget(before:)` removes the files no
///   manifest names any more.
///
/// In memory: per room 8 bytes per 64 messages (the anchors) and the versions' offsets.
/// One thread appends and commits (the compaction); any thread reads.
package final class FileColdStore: ColdStore {
    /// Messages per anchor: a page read covers at most two blocks of this many messages.
    package static let anchorEvery: Int64 = 64
    static let segmentMagic: [UInt8] = Array("CHATSEG1".utf8)
    static let indexMagic: [UInt8] = Array("CHATIDX1".utf8)
    static let manifestMagic = "chat-cold 1"
    static let versionBit: UInt64 = 1 << 63

    struct Room: Sendable {
        /// seq of the first stored message.
        var first: Int64 = 1
        var head: Int64 = 0
        var segmentBytes: Int64 = 0
        var indexBytes: Int64 = 0
        /// Offset of message `first + anchorEvery * k` at index k.
        var anchors: [Int64] = []
        /// seq → offset of its newest version.
        var versions: [Int64: Int64] = [:]
        /// Which files hold the room: 0 for `<room>.seg`, n for `<room>.n.seg` (a rewrite).
        var fileGeneration = 0
    }

    struct Rooms: Sendable {
        var rooms: [String: Room] = [:]
        /// Rooms appended to since the last commit.
        var dirty: Set<String> = []
        /// A file was created since the last commit (the directory needs an fsync).
        var created = false
        /// Every room's state at the last commit (what `rollback` returns to).
        var committed: [String: ManifestEntry] = [:]
        /// The highest file generation in use (a rewrite takes the next).
        var lastFileGeneration = 0
    }

    /// The directory holding the files.
    package let path: String
    private let state: Mutex<Rooms>

    /// Opens the store as generation `generation`'s manifest left it.
    ///
    /// - Parameters:
    ///   - path: the directory (created if missing).
    ///   - generation: the manifest to open (the generation of the snapshot the server starts
    ///     from); nil when the snapshot the server starts from has no cold messages (or there is
    ///     none): every file is removed, since what a compaction committed after that snapshot
    ///     is still in the log.
    package init(path: String, generation: Int?) throws {
        self.path = path
        // The directory is made by the first append: a server that never moved a message out
        // has none.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names where name.hasSuffix(".tmp") { unlink(path + "/" + name) }
        let manifests = names.compactMap(Self.manifestGeneration).sorted()
        var rooms = Rooms()
        if let generation {
            guard manifests.contains(generation) else {
                if manifests.isEmpty && !names.contains(where: { $0.hasSuffix(".seg") }) {
                    // Nothing was ever committed: start empty.
                    self.state = Mutex(rooms)
                    return
                }
                throw StorageError.corrupt(
                    Self.manifestPath(path, generation),
                    offset: 0,
                    "the cold store has no manifest for snapshot generation \(generation) (found \(manifests))"
                )
            }
            let committed = try Self.readManifest(Self.manifestPath(path, generation))
            for (room, entry) in committed {
                rooms.rooms[room] = try Self.openRoom(path, room: room, committed: entry)
            }
            rooms.committed = committed
            rooms.lastFileGeneration = committed.values.map(\.fileGeneration).max() ?? 0
        }
        // Segments no manifest names were created by a compaction that never committed.
        let named = Set(rooms.rooms.map { Self.fileName($0.key, generation: $0.value.fileGeneration) })
        for name in names where name.hasSuffix(".seg") || name.hasSuffix(".idx") {
            if !named.contains(String(name.dropLast(4))) { unlink(path + "/" + name) }
        }
        for gen in manifests where gen != generation { unlink(Self.manifestPath(path, gen)) }
        self.state = Mutex(rooms)
    }

    // MARK: ColdStore

    package func heads() -> [String: Int64] {
        state.withLock { $0.rooms.compactMapValues { $0.head > 0 ? $0.head : nil } }
    }

    package func read(room key: String, from lower: Int64, through upper: Int64) throws -> [ChatMessage] {
        guard let room = state.withLock({ $0.rooms[key] }) else { return [] }
        do {
            return try read(key, room, from: lower, through: upper)
        } catch let error as StorageError {
            // A rewrite may have replaced the files since the room was looked up: once more.
            guard let again = state.withLock({ $0.rooms[key] }), again.fileGeneration != room.fileGeneration else {
                throw error
            }
            return try read(key, again, from: lower, through: upper)
        }
    }

    /// Reads through a given view of a room's files.
    private func read(_ key: String, _ room: Room, from lower: Int64, through upper: Int64) throws -> [ChatMessage] {
        guard room.head >= room.first else { return [] }
        let lower = max(lower, room.first)
        let upper = min(upper, room.head)
        guard lower <= upper else { return [] }
        let lowBlock = Int((lower - room.first) / Self.anchorEvery)
        let highBlock = Int((upper - room.first) / Self.anchorEvery)
        let start = room.anchors[lowBlock]
        let end = highBlock + 1 < room.anchors.count ? room.anchors[highBlock + 1] : room.segmentBytes
        let file = segmentPath(key, room.fileGeneration)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.io(file, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = try Self.pread(fd, from: start, count: Int(end - start), path: file)
        var found = [ChatMessage?](repeating: nil, count: Int(upper - lower + 1))
        var offset = 0
        try bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let (message, size) = try ColdRecord.decode(raw, at: offset, file: file, base: start)
                offset += size
                guard message.seq >= lower, message.seq <= upper, found[Int(message.seq - lower)] == nil else {
                    continue
                }
                found[Int(message.seq - lower)] = message
            }
        }
        for (seq, versionOffset) in room.versions where seq >= lower && seq <= upper {
            found[Int(seq - lower)] = try Self.message(fd, at: versionOffset, path: file)
        }
        var messages: [ChatMessage] = []
        messages.reserveCapacity(found.count)
        for (i, message) in found.enumerated() {
            guard let message else {
                throw StorageError.corrupt(
                    file,
                    offset: Int(start),
                    "seq \(lower + Int64(i)) is missing from its block"
                )
            }
            messages.append(message)
        }
        return messages
    }

    package func append(room key: String, messages: [ChatMessage], versions: [ChatMessage]) throws {
        guard !messages.isEmpty || !versions.isEmpty else { return }
        var room = state.withLock { $0.rooms[key] } ?? Room()
        let isNew = room.segmentBytes == 0
        if isNew, mkdir(path, 0o700) != 0, errno != EEXIST {
            throw StorageError.io(path, "cannot create: \(String(cString: strerror(errno)))")
        }
        if isNew, let first = messages.first { room.first = first.seq }
        var segment: [UInt8] = isNew ? Self.segmentMagic : []
        var index: [UInt8] = isNew ? Self.indexMagic : []
        var offset = room.segmentBytes + Int64(segment.count)
        for message in messages {
            guard message.seq == room.head + 1 || (isNew && room.head == 0 && message.seq == room.first) else {
                throw StorageError.corrupt(
                    segmentPath(key, room.fileGeneration),
                    offset: Int(offset),
                    "seq \(message.seq) appended after cold head \(room.head)"
                )
            }
            if (message.seq - room.first) % Self.anchorEvery == 0 {
                room.anchors.append(offset)
                Self.appendEntry(UInt64(message.seq), offset, to: &index)
            }
            let before = segment.count
            ColdRecord.append(message, to: &segment)
            offset += Int64(segment.count - before)
            room.head = message.seq
        }
        for version in versions where version.seq >= room.first && version.seq <= room.head {
            room.versions[version.seq] = offset
            Self.appendEntry(UInt64(version.seq) | Self.versionBit, offset, to: &index)
            let before = segment.count
            ColdRecord.append(version, to: &segment)
            offset += Int64(segment.count - before)
        }
        try Self.write(segment, to: segmentPath(key, room.fileGeneration), at: room.segmentBytes)
        try Self.write(index, to: indexPath(key, room.fileGeneration), at: room.indexBytes)
        room.segmentBytes += Int64(segment.count)
        room.indexBytes += Int64(index.count)
        state.withLock {
            $0.rooms[key] = room
            $0.dirty.insert(key)
            if isNew { $0.created = true }
        }
        if !isNew, versions.contains(where: Self.removesText) { try rewrite(key, room) }
    }

    /// Rewrites the room (a new file generation, as after a delete) with every message up to
    /// `through` in the form retention leaves it, so the expired text leaves the disk once
    /// `forget(before:)` removes the old files.
    ///
    /// - Parameters:
    ///   - key: the room's fold key.
    ///   - through: the newest expired seq.
    package func expire(room key: String, through: Int64) throws {
        guard let room = state.withLock({ $0.rooms[key] }), room.head >= room.first, through >= room.first else {
            return
        }
        try rewrite(key, room, expiring: through)
    }

    /// Whether a version takes text away (a delete, or an edit event blanked by one).
    static func removesText(_ version: ChatMessage) -> Bool {
        version.deleted || (version.kind == .edit && version.text.isEmpty)
    }

    /// Writes a room's messages, each once in its newest version (those up to `expired` as
    /// retention leaves them), into files of a new file generation, which the room then uses;
    /// the old files stay (the last commit names them) until `forget(before:)` or `rollback()`
    /// removes them.
    private func rewrite(_ key: String, _ old: Room, expiring expired: Int64 = 0) throws {
        let generation = state.withLock {
            $0.lastFileGeneration += 1
            return $0.lastFileGeneration
        }
        var room = Room(first: old.first, head: old.first - 1)
        room.fileGeneration = generation
        let segmentFile = segmentPath(key, generation)
        let indexFile = indexPath(key, generation)
        unlink(segmentFile)
        unlink(indexFile)
        var segment = Self.segmentMagic
        var index = Self.indexMagic
        var lower = old.first
        while lower <= old.head {
            let upper = min(old.head, lower + 4 * Self.anchorEvery * 16 - 1)
            for var message in try read(key, old, from: lower, through: upper) {
                if message.seq <= expired { MessageChanges.expire(&message) }
                if (message.seq - room.first) % Self.anchorEvery == 0 {
                    room.anchors.append(room.segmentBytes + Int64(segment.count))
                    Self.appendEntry(UInt64(message.seq), room.segmentBytes + Int64(segment.count), to: &index)
                }
                ColdRecord.append(message, to: &segment)
                room.head = message.seq
            }
            try Self.write(segment, to: segmentFile, at: room.segmentBytes)
            try Self.write(index, to: indexFile, at: room.indexBytes)
            room.segmentBytes += Int64(segment.count)
            room.indexBytes += Int64(index.count)
            segment.removeAll(keepingCapacity: true)
            index.removeAll(keepingCapacity: true)
            lower = upper + 1
        }
        state.withLock {
            $0.rooms[key] = room
            $0.dirty.insert(key)
            $0.created = true
        }
    }

    /// Makes everything appended so far what opening at `generation` finds: fsyncs the files
    /// appended to, then writes `manifest-<generation>` atomically. Older manifests stay
    /// until `forget(before:)`, so the previous snapshot can still be started from.
    ///
    /// - Parameters:
    ///   - generation: the generation of the snapshot that is written next.
    package func commit(generation: Int) throws {
        let (rooms, dirty, created) = state.withLock { ($0.rooms, $0.dirty, $0.created) }
        for key in dirty.sorted() {
            let generation = rooms[key]?.fileGeneration ?? 0
            for file in [segmentPath(key, generation), indexPath(key, generation)] {
                let fd = open(file, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw StorageError.io(file, "cannot open: \(String(cString: strerror(errno)))") }
                let synced = fsync(fd) == 0
                close(fd)
                guard synced else { throw StorageError.io(file, "fsync failed") }
            }
        }
        if created {
            DataDirectory(path).syncDirectory()
            DataDirectory((path as NSString).deletingLastPathComponent).syncDirectory()
        }
        var text = Self.manifestMagic + "\n"
        for (key, room) in rooms.sorted(by: { $0.key < $1.key }) {
            text += "\(Self.hex(key)) \(room.first) \(room.head) \(room.segmentBytes) \(room.indexBytes)"
            text += room.fileGeneration == 0 ? "\n" : " \(room.fileGeneration)\n"
        }
        let body = Array(text.utf8)
        let crc = body.withUnsafeBytes { CRC32C.update(0, $0) }
        try DataDirectory(path).writeAtomically(
            body + Array("crc \(crc)\n".utf8),
            to: Self.manifestPath(path, generation)
        )
        state.withLock {
            $0.dirty = []
            $0.created = false
            for (key, room) in rooms {
                $0.committed[key] = ManifestEntry(
                    first: room.first,
                    head: room.head,
                    segmentBytes: room.segmentBytes,
                    indexBytes: room.indexBytes,
                    fileGeneration: room.fileGeneration
                )
            }
        }
    }

    /// Drops what was appended since the last commit (a compaction that failed half-way), so
    /// the next compaction appends from the committed heads again.
    package func rollback() throws {
        let (dirty, committed, rooms) = state.withLock { ($0.dirty, $0.committed, $0.rooms) }
        for key in dirty.sorted() {
            let current = rooms[key]?.fileGeneration ?? 0
            if current != committed[key]?.fileGeneration {  // a rewrite since the commit
                unlink(segmentPath(key, current))
                unlink(indexPath(key, current))
            }
            if let entry = committed[key] {
                let room = try Self.openRoom(path, room: key, committed: entry)
                state.withLock { $0.rooms[key] = room }
            } else {
                state.withLock { _ = $0.rooms.removeValue(forKey: key) }
            }
            state.withLock { _ = $0.dirty.remove(key) }
        }
    }

    /// Removes manifests older than `generation` (once that generation's snapshot is in place).
    ///
    /// - Parameters:
    ///   - generation: the oldest generation a restart may still start from.
    package func forget(before generation: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for gen in names.compactMap(Self.manifestGeneration) where gen < generation {
            unlink(Self.manifestPath(path, gen))
        }
        // Files only older manifests named (a room's files before a rewrite).
        let inUse = state.withLock { rooms in
            Set(rooms.committed.map { Self.fileName($0.key, generation: $0.value.fileGeneration) })
                .union(rooms.rooms.map { Self.fileName($0.key, generation: $0.value.fileGeneration) })
        }
        for name in names where name.hasSuffix(".seg") || name.hasSuffix(".idx") {
            if !inUse.contains(String(name.dropLast(4))) { unlink(path + "/" + name) }
        }
    }

    /// Bytes the store keeps in memory for its rooms (anchors and version offsets; an estimate
    /// of the heap the arrays and dictionaries take, not counting the room keys).
    package var memoryBytes: Int {
        state.withLock { rooms in
            rooms.rooms.values.reduce(0) { $0 + 96 + $1.anchors.capacity * 8 + $1.versions.capacity * 24 }
        }
    }

    /// Bytes of every room's files (for metrics and the benchmark).
    package var bytes: Int64 {
        state.withLock { $0.rooms.values.reduce(0) { $0 + $1.segmentBytes + $1.indexBytes } }
    }

    // MARK: Files

    func segmentPath(_ key: String, _ generation: Int = 0) -> String {
        path + "/" + Self.fileName(key, generation: generation) + ".seg"
    }
    func indexPath(_ key: String, _ generation: Int = 0) -> String {
        path + "/" + Self.fileName(key, generation: generation) + ".idx"
    }

    /// A room's file name (without extension).
    ///
    /// - Parameters:
    ///   - key: the room's fold key.
    ///   - generation: the file generation (0: never rewritten).
    package static func fileName(_ key: String, generation: Int = 0) -> String {
        let name = hex(SHA256.hash(data: Array(key.utf8)).prefix(16))
        return generation == 0 ? name : name + "." + String(generation)
    }

    static func manifestPath(_ path: String, _ generation: Int) -> String {
        path + "/manifest-" + DataDirectory.padded(generation)
    }

    static func manifestGeneration(_ name: String) -> Int? {
        guard name.hasPrefix("manifest-"), !name.hasSuffix(".tmp") else { return nil }
        return Int(name.dropFirst("manifest-".count))
    }

    static func hex(_ key: String) -> String { hex(key.utf8) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out = ""
        for byte in bytes {
            out.append(Character(Unicode.Scalar(UInt8(ascii: "0") + (byte >> 4) + (byte >> 4 > 9 ? 39 : 0))))
            out.append(Character(Unicode.Scalar(UInt8(ascii: "0") + (byte & 15) + (byte & 15 > 9 ? 39 : 0))))
        }
        return out
    }

    static func roomKey(hex: String) -> String? {
        let digits = Array(hex.utf8)
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[i]), let low = hexValue(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    struct ManifestEntry {
        var first: Int64
        var head: Int64
        var segmentBytes: Int64
        var indexBytes: Int64
        var fileGeneration = 0
    }

    static func readManifest(_ file: String) throws -> [String: ManifestEntry] {
        let bytes = try DataDirectory.read(file)
        guard let crcLine = bytes.dropLast().lastIndex(of: UInt8(ascii: "\n")).map({ $0 + 1 }),
            let stored = UInt32(String(decoding: bytes[crcLine...], as: UTF8.self).dropFirst(4).dropLast()),
            bytes[..<crcLine].withUnsafeBytes({ CRC32C.update(0, $0) }) == stored
        else { throw StorageError.corrupt(file, offset: 0, "damaged cold-store manifest (CRC)") }
        let lines = String(decoding: bytes[..<crcLine], as: UTF8.self).split(separator: "\n")
        guard lines.first == Substring(manifestMagic) else {
            throw StorageError.corrupt(file, offset: 0, "not a cold-store manifest")
        }
        var entries: [String: ManifestEntry] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count == 5 || fields.count == 6, let key = roomKey(hex: String(fields[0])),
                let first = Int64(fields[1]), let head = Int64(fields[2]), let segment = Int64(fields[3]),
                let index = Int64(fields[4]), let fileGeneration = fields.count == 6 ? Int(fields[5]) : 0,
                fileGeneration >= 0
            else { throw StorageError.corrupt(file, offset: 0, "bad cold-store manifest line: \(line)") }
            entries[key] = ManifestEntry(
                first: first,
                head: head,
                segmentBytes: segment,
                indexBytes: index,
                fileGeneration: fileGeneration
            )
        }
        return entries
    }

    /// Opens a room's files at their committed lengths (truncating what came after) and reads
    /// its index.
    static func openRoom(_ path: String, room key: String, committed: ManifestEntry) throws -> Room {
        let segment = path + "/" + fileName(key, generation: committed.fileGeneration) + ".seg"
        let index = path + "/" + fileName(key, generation: committed.fileGeneration) + ".idx"
        for (file, length) in [(segment, committed.segmentBytes), (index, committed.indexBytes)] {
            let fd = open(file, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StorageError.corrupt(file, offset: 0, "a committed file is missing") }
            defer { close(fd) }
            let size = Int64(lseek(fd, 0, SEEK_END))
            guard size >= length else {
                throw StorageError.corrupt(file, offset: Int(size), "shorter than committed (\(length) bytes)")
            }
            if size > length, ftruncate(fd, off_t(length)) != 0 { throw StorageError.io(file, "truncate failed") }
        }
        var room = Room(first: committed.first, head: committed.head)
        room.fileGeneration = committed.fileGeneration
        room.segmentBytes = committed.segmentBytes
        room.indexBytes = committed.indexBytes
        let entries = try DataDirectory.read(index)
        guard entries.count >= indexMagic.count, Array(entries[0..<indexMagic.count]) == indexMagic,
            (entries.count - indexMagic.count) % 16 == 0
        else { throw StorageError.corrupt(index, offset: 0, "not a cold-store index") }
        var at = indexMagic.count
        while at < entries.count {
            let seq = le64(entries, at)
            let offset = Int64(bitPattern: le64(entries, at + 8))
            guard offset >= Int64(segmentMagic.count), offset < room.segmentBytes else {
                throw StorageError.corrupt(index, offset: at, "entry points outside the segment")
            }
            if seq & versionBit != 0 {
                room.versions[Int64(bitPattern: seq & ~versionBit)] = offset
            } else {
                guard Int64(bitPattern: seq) == room.first + anchorEvery * Int64(room.anchors.count) else {
                    throw StorageError.corrupt(index, offset: at, "anchor for seq \(seq) out of order")
                }
                room.anchors.append(offset)
            }
            at += 16
        }
        let expected = room.head >= room.first ? Int((room.head - room.first) / anchorEvery) + 1 : 0
        guard room.anchors.count == expected else {
            throw StorageError.corrupt(index, offset: at, "\(room.anchors.count) anchors for \(expected) blocks")
        }
        return room
    }

    static func appendEntry(_ seq: UInt64, _ offset: Int64, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: seq >> UInt64(shift))) }
        let value = UInt64(bitPattern: offset)
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    static func le64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[at + i]) << UInt64(8 * i) }
        return value
    }

    static func write(_ bytes: [UInt8], to file: String, at offset: Int64) throws {
        guard !bytes.isEmpty else { return }
        let fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError.io(file, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Whatever an earlier, uncommitted append left past this point is overwritten.
        guard ftruncate(fd, off_t(offset)) == 0, lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else {
            throw StorageError.io(file, "cannot seek to \(offset)")
        }
        try bytes.withUnsafeBytes { try DataDirectory.writeAll(fd, $0, path: file) }
    }

    static func pread(_ fd: Int32, from offset: Int64, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes {
                Glibc.pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(path, "read failed: \(String(cString: strerror(errno)))")
            }
            guard n > 0 else { throw StorageError.corrupt(path, offset: Int(offset) + done, "ends early") }
            done += n
        }
        return bytes
    }

    /// Reads one record at a known offset (a message's newest version).
    static func message(_ fd: Int32, at offset: Int64, path: String) throws -> ChatMessage {
        let header = try pread(fd, from: offset, count: ColdRecord.headerSize, path: path)
        var length = 0
        for i in 0..<4 { length |= Int(header[i]) << (8 * i) }
        guard length > 0, length <= RecordFraming.maxPayload else {
            throw StorageError.corrupt(path, offset: Int(offset), "implausible cold record length \(length)")
        }
        let bytes = try pread(fd, from: offset, count: ColdRecord.headerSize + length, path: path)
        return try bytes.withUnsafeBytes { try ColdRecord.decode($0, at: 0, file: path, base: offset).0 }
    }
}

/// One message in a cold segment: `u32 length, u32 CRC-32C of the body, body`, where the body is
/// the log's framed `messageAppended` record followed by the message's reactions (`u32` count;
/// per reaction its emoji, its users and the seqs of their react events), so a cold message
/// comes back exactly as it was in memory.
enum ColdRecord {
    static let headerSize = 8

    static func append(_ message: ChatMessage, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: [UInt8](repeating: 0, count: headerSize))
        RecordFraming.append(.messageAppended(message), to: &out)
        let details = message.details
        u32(details.reactions.count, &out)
        for (i, reaction) in details.reactions.enumerated() {
            string(reaction.emoji, &out)
            u32(reaction.users.count, &out)
            for user in reaction.users { string(user, &out) }
            let seqs = i < details.reactionSeqs.count ? details.reactionSeqs[i] : []
            u32(seqs.count, &out)
            for seq in seqs {
                for shift in stride(from: 0, to: 64, by: 8) {
                    out.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: seq) >> UInt64(shift)))
                }
            }
        }
        let length = out.count - start - headerSize
        let crc = out[(start + headerSize)...].withUnsafeBytes { CRC32C.update(0, $0) }
        for i in 0..<4 {
            out[start + i] = UInt8(truncatingIfNeeded: length >> (8 * i))
            out[start + 4 + i] = UInt8(truncatingIfNeeded: crc >> UInt32(8 * i))
        }
    }

    /// Decodes the record at `offset`; returns the message and the record's size.
    static func decode(
        _ raw: UnsafeRawBufferPointer,
        at offset: Int,
        file: String,
        base: Int64
    ) throws -> (ChatMessage, Int) {
        func damaged(_ reason: String) -> StorageError {
            StorageError.corrupt(file, offset: Int(base) + offset, "damaged cold record (\(reason))")
        }
        guard offset + headerSize <= raw.count else { throw damaged("truncated header") }
        let length = Int(le32(raw, offset))
        let stored = le32(raw, offset + 4)
        guard length > 0, offset + headerSize + length <= raw.count else { throw damaged("runs past its block") }
        let body = UnsafeRawBufferPointer(rebasing: raw[(offset + headerSize)..<(offset + headerSize + length)])
        guard CRC32C.update(0, body) == stored else { throw damaged("CRC mismatch") }
        guard body.count >= RecordFraming.headerSize else { throw damaged("no message") }
        let inner = RecordFraming.headerSize + Int(le32(body, 0))
        guard inner <= body.count else { throw damaged("message runs past the record") }
        let scan = RecordFraming.scan(UnsafeRawBufferPointer(rebasing: body[0..<inner]))
        guard scan.problem == nil, case .messageAppended(var message) = scan.records.first else {
            throw damaged(scan.problem?.reason ?? "not a message")
        }
        var at = inner
        func need(_ count: Int) throws {
            guard at + count <= body.count else { throw damaged("reactions run past the record") }
        }
        func readU32() throws -> Int {
            try need(4)
            defer { at += 4 }
            return Int(le32(body, at))
        }
        func readString() throws -> String {
            let count = try readU32()
            try need(count)
            defer { at += count }
            return String(decoding: body[at..<(at + count)], as: UTF8.self)
        }
        let reactionCount = try readU32()
        if reactionCount > 0 {
            var details = message.details
            for _ in 0..<reactionCount {
                let emoji = try readString()
                var users: [String] = []
                for _ in 0..<(try readU32()) { users.append(try readString()) }
                var seqs: [Int64] = []
                for _ in 0..<(try readU32()) {
                    try need(8)
                    var value: UInt64 = 0
                    for i in 0..<8 { value |= UInt64(body[at + i]) << UInt64(8 * i) }
                    at += 8
                    seqs.append(Int64(bitPattern: value))
                }
                details.reactions.append(Reaction(emoji: emoji, users: users))
                details.reactionSeqs.append(seqs)
            }
            message.details = details
        }
        guard at == body.count else { throw damaged("trailing bytes") }
        return (message, headerSize + length)
    }

    static func u32(_ value: Int, _ out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }

    static func string(_ value: String, _ out: inout [UInt8]) {
        u32(value.utf8.count, &out)
        out.append(contentsOf: value.utf8)
    }

    static func le32(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(raw[at + i]) << UInt32(8 * i) }
        return value
    }
}
