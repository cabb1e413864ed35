import ChatServer
import Testing

// Opening, recovering and checking stores: the steps the storage and backup tests
// repeat around their own assertions.
extension StorageTestSupport {
    /// A store with `fsync: always` and `repair: true`, otherwise as the server configures it
    /// (unlike ``makeStore(_:fsync:repair:)``, which changes when a snapshot is due).
    ///
    /// - Parameters:
    ///   - directory: the data directory.
    static func makeRepairingStore(_ directory: String) -> FileChatStore {
        FileChatStore(
            configuration: StorageConfiguration(directory: directory, fsync: .always, repair: true),
            logger: logger
        )
    }

    /// Opens a store on `directory` and commits the sample records to it.
    ///
    /// - Parameters:
    ///   - directory: the data directory.
    /// - Returns: the open store and the state it holds.
    static func openWithSampleRecords(_ directory: String) async throws -> (store: FileChatStore, state: ChatState) {
        let store = makeStore(directory)
        var state = try await store.recover()
        try await commit(sampleRecords(), to: &state, in: store)
        return (store, state)
    }

    /// Recovers `directory` in a new store and closes it again.
    ///
    /// - Parameters:
    ///   - directory: the data directory.
    /// - Returns: the recovered state.
    static func recoverAndClose(_ directory: String) async throws -> ChatState {
        let store = makeStore(directory)
        let state = try await store.recover()
        await store.close()
        return state
    }

    /// Expects `store` to refuse to recover: records `issue` (and closes the store) if it
    /// recovers. Errors other than `StorageError` are rethrown.
    ///
    /// - Parameters:
    ///   - store: a store that was not recovered yet.
    ///   - issue: what to record if it recovers.
    /// - Returns: the error it refused with, or nil if it recovered.
    static func refusedRecovery(
        _ store: FileChatStore,
        _ issue: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> StorageError? {
        do {
            _ = try await store.recover()
            Issue.record(Comment(rawValue: issue), sourceLocation: sourceLocation)
            await store.close()
            return nil
        } catch let error as StorageError {
            return error
        }
    }

    /// Expects the data directory to hold exactly these snapshot and log generations.
    ///
    /// - Parameters:
    ///   - directory: the data directory.
    ///   - snapshots: the expected snapshot generations.
    ///   - logs: the expected log generations.
    ///   - comment: said with a failure.
    static func expectGenerations(
        _ directory: String,
        snapshots: [Int],
        logs: [Int],
        _ comment: Comment? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let found = try DataDirectory(directory).generations()
        #expect(found.snapshots == snapshots, comment, sourceLocation: sourceLocation)
        #expect(found.logs == logs, comment, sourceLocation: sourceLocation)
    }
}
