import ChatCore

/// One state change. The server applies records to `ChatState` and hands them to
/// the `ChatStore`, so replaying the same records rebuilds the same state.
package enum LogRecord: Sendable, Equatable {
    case userCreated(name: String, passwordHash: String, ts: Int64)
    case passwordChanged(user: String, passwordHash: String)
    case tokenIssued(user: String, tokenHash: String, ts: Int64)
    case tokenRevoked(tokenHash: String)
    case roomCreated(name: String, epoch: String, ts: Int64)
    case epochChanged(room: String, epoch: String)
    case memberAdded(room: String, user: String)
    case memberRemoved(room: String, user: String)
    case topicSet(room: String, topic: String, by: String)
    case messageAppended(ChatMessage)
    case readMarked(room: String, user: String, seq: Int64)
    /// An account was disabled (or enabled again); a disabled user cannot log in.
    case userDisabled(user: String, disabled: Bool)
    /// An invite code (stored as its SHA-256) good for `uses` sign-ups until `expiresAt` (ms; 0: never).
    case inviteCreated(codeHash: String, uses: Int64, expiresAt: Int64, ts: Int64)
    /// One use of an invite was spent by a sign-up.
    case inviteUsed(codeHash: String)
    /// An invite was withdrawn (or its last use spent).
    case inviteRevoked(codeHash: String)
    /// Who may see a room and who owns it (user fold key; nil: nobody). A room without this
    /// record (every room of a data directory older than private rooms) is public, unowned.
    case roomAccess(room: String, visibility: RoomVisibility, owner: String?)
    /// A token was used (`resume`) at `ts` (ms); stored at most once per token and UTC day,
    /// for the idle expiry (`--token-idle-days`).
    case tokenUsed(tokenHash: String, ts: Int64)
    /// An upload was stored (`POST /v1/files`); its bytes are in the data directory's file
    /// store under its SHA-256. A second upload of the same bytes by the same user replaces it.
    case fileUploaded(FileUpload)
    /// An upload was removed (never posted for 24 h, its every message deleted, or by an operator).
    case fileRemoved(id: String)
    /// Snapshots only: a room's seqs 1…`base` are in the cold store (issue 16); its messages in
    /// the snapshot start at `base + 1`. Comes after the room's `roomCreated` and before its messages.
    case roomCold(room: String, base: Int64)
    /// Snapshots only: `count` messages of the room's cold part share file `id` and are not
    /// deleted (the file references the snapshot's messages no longer carry).
    case fileShared(id: String, room: String, count: Int64)
    /// Snapshots only: a room's seqs 1…`through` expired (`--retain-days`): each is a tombstone
    /// (no text, file or reactions), and every one was sent before `before` (ms since the epoch).
    case roomExpired(room: String, through: Int64, before: Int64)
}

/// An upload as the server keeps it: the file and who uploaded it when.
package struct FileUpload: Sendable, Equatable {
    package var file: FileRef
    /// The uploader's fold key.
    package var uploader: String
    /// When it was stored (ms since the epoch).
    package var ts: Int64

    /// Creates an upload.
    ///
    /// - Parameters:
    ///   - file: the file.
    ///   - uploader: the uploader's fold key.
    ///   - ts: when it was stored (ms).
    package init(file: FileRef, uploader: String, ts: Int64) {
        self.file = file
        self.uploader = uploader
        self.ts = ts
    }
}
