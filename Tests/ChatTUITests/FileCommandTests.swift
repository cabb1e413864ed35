import ChatCore
import ChatTUI
import Foundation
import Testing

@Suite("update: files")
struct FileCommandTests: UpdateTestSupport {
    static let file = FileRef(
        id: String(repeating: "ab", count: 16),
        name: "scan.png",
        mime: "image/png",
        size: 1_234_567,
        sha256: String(repeating: "cd", count: 32)
    )

    func fileMessage(_ seq: Int64, _ file: FileRef = Self.file, caption: String = "") -> ChatMessage {
        var m = message("general", seq, "bob", caption, kind: .file)
        m.file = file
        return m
    }

    func filesState() -> AppState {
        var state = makeState()
        state.limits.maxFileBytes = 25 << 20
        return state
    }

    @Test("/upload PATH caption asks for an upload to the active room; ~ and escaped spaces are read")
    func upload() {
        var state = filesState()
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        #expect(
            submit(&state, "/upload ~/my\\ scan.png the scan")
                == [.upload(room: "general", path: home + "/my scan.png", caption: "the scan", nonce: "t-1")]
        )
        #expect(state.transfer == AppState.Transfer(upload: true, name: "my scan.png", done: 0, total: 0))
        #expect(submit(&state, "/upload /tmp/x") == [])
        #expect(state.notice == "a transfer is already running")
        _ = update(&state, .transfer(nil))
        #expect(
            submit(&state, "/upload \"/tmp/a b.txt\"")
                == [.upload(room: "general", path: "/tmp/a b.txt", caption: "", nonce: "t-2")]
        )
    }

    @Test("/upload without a path, a room or a server that takes files says why")
    func uploadRefused() {
        var state = filesState()
        #expect(submit(&state, "/upload") == [])
        #expect(state.notice == "usage: /upload PATH [caption]")
        state.limits.maxFileBytes = 0
        #expect(submit(&state, "/upload /tmp/x") == [])
        #expect(state.notice == "this server does not take files")
        var empty = filesState()
        empty.rooms = []
        #expect(submit(&empty, "/upload /tmp/x") == [])
        #expect(empty.notice == "join a room first: /join ROOM")
    }

    @Test("/download and /open take the newest file; s and o on a selected message take that one")
    func download() {
        var state = filesState()
        let other = FileRef(
            id: String(repeating: "ef", count: 16),
            name: "b.txt",
            mime: "text/plain",
            size: 3,
            sha256: ""
        )
        state.rooms[0].messages = [fileMessage(1), message("general", 2, "bob"), fileMessage(3, other)]
        #expect(submit(&state, "/download") == [.download(other, path: nil)])
        #expect(state.transfer == AppState.Transfer(upload: false, name: "b.txt", done: 0, total: 3))
        #expect(submit(&state, "/open") == [])
        #expect(state.notice == "a transfer is already running")
        _ = update(&state, .transfer(nil))
        #expect(submit(&state, "/download /tmp/out.png") == [.download(other, path: "/tmp/out.png")])
        _ = update(&state, .transfer(nil))
        #expect(submit(&state, "/open") == [.open(other)])
        _ = update(&state, .transfer(nil))
        state.selection = 1
        #expect(press(&state, .character("s")) == [.download(Self.file, path: nil)])
        #expect(state.selection == nil)
        _ = update(&state, .transfer(nil))
        state.selection = 1
        #expect(press(&state, .character("o")) == [.open(Self.file)])
        _ = update(&state, .transfer(nil))
        state.selection = 2
        #expect(press(&state, .character("s")) == [])
        #expect(state.notice == "not a file message")
        var none = filesState()
        #expect(submit(&none, "/download") == [])
        #expect(none.notice == "no file in general")
    }

    @Test("progress and its end reach the state")
    func progress() {
        var state = filesState()
        let transfer = AppState.Transfer(upload: false, name: "scan.png", done: 10, total: 100)
        _ = update(&state, .transfer(transfer))
        #expect(state.transfer == transfer)
        _ = update(&state, .transfer(nil))
        #expect(state.transfer == nil)
    }

    @Test("Tab completes a path after /upload: directories end in /, spaces are escaped")
    func pathCompletion() throws {
        let directory = NSTemporaryDirectory() + "chat-complete-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/sub dir", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/report 1.txt", contents: Data())
        _ = FileManager.default.createFile(atPath: directory + "/.hidden", contents: Data())
        var state = filesState()
        state.input = InputLine("/upload \(directory)/r")
        _ = update(&state, .key(.tab))
        #expect(state.input.text == "/upload \(directory)/report\\ 1.txt ")
        state.completion = nil
        state.input = InputLine("/upload \(directory)/s")
        _ = update(&state, .key(.tab))
        #expect(state.input.text == "/upload \(directory)/sub\\ dir/")
        state.completion = nil
        state.input = InputLine("/upload \(directory)/")
        _ = update(&state, .key(.tab))
        #expect(state.input.text == "/upload \(directory)/report\\ 1.txt ")
        _ = update(&state, .key(.tab))
        #expect(state.input.text == "/upload \(directory)/sub\\ dir/")
        // Inside a directory with a space in its name.
        _ = FileManager.default.createFile(atPath: directory + "/sub dir/inner.txt", contents: Data())
        state.completion = nil
        state.input = InputLine("/upload \(directory)/sub\\ dir/in")
        _ = update(&state, .key(.tab))
        #expect(state.input.text == "/upload \(directory)/sub\\ dir/inner.txt ")
    }

    @Test("a file message renders as 📎 name · size · type, then its caption; the transfer in the status line")
    func rendering() {
        var state = filesState()
        state.rooms[0].messages = [fileMessage(1, caption: "the scan")]
        state.rooms[0].head = 1
        state.transfer = AppState.Transfer(upload: true, name: "big.iso", done: 52, total: 100)
        let text = render(state, size: Size(width: 100, height: 12)).text
        #expect(text.contains("📎 scan.png · 1.2 MB · image/png  the scan"), "\(text)")
        #expect(text.contains("↑ big.iso ▕█████░░░░░▏ 52 % of 100 B"), "\(text)")
    }
}
