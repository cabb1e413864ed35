import ChatClient
import ChatConformance
import ChatCore
import Foundation
import Testing

extension TUIEndToEndTests {
    @Test(
        "/upload in one TUI shows the file in the other; /download saves it, never over an existing file",
        .timeLimit(.minutes(1))
    )
    func uploadAndDownload() async throws {
        let server = try await E2EServer.start()
        defer { server.stop() }
        let context = ConformanceContext(url: server.url, limits: Limits())
        let ann = try await context.newUser("ann")
        let ben = try await context.newUser("ben")
        await ann.client.disconnect()
        await ben.client.disconnect()
        let downloads = try makeTemporaryDirectory("chat-e2e-downloads")
        defer { try? FileManager.default.removeItem(atPath: downloads) }
        let source = downloads + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let path = source + "/report 日本.txt"
        let contents = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try contents.write(to: URL(fileURLWithPath: path))
        let sha = try FileTransfer.sha256(ofFile: path)

        // /open runs $CHAT_OPENER with the cached file's path: a script that writes it down.
        let opened = downloads + "/opened.txt"
        let opener = downloads + "/opener.sh"
        try "#!/bin/sh\nprintf '%s' \"$1\" > '\(opened)'\n".write(toFile: opener, atomically: true, encoding: .utf8)
        chmod(opener, 0o755)
        let tuiBen = try await TmuxChat.start(
            url: server.url,
            user: ben.name,
            password: ben.password,
            columns: 140,
            environment: [
                "XDG_DOWNLOAD_DIR": downloads, "XDG_CACHE_HOME": downloads + "/cache", "CHAT_OPENER": opener,
            ]
        )
        defer { tuiBen.kill() }
        try await tuiBen.waitForScreen("ben connected") { $0.status.hasPrefix(" ●") }
        let tuiAnn = try await TmuxChat.start(url: server.url, user: ann.name, password: ann.password, columns: 140)
        defer { tuiAnn.kill() }
        try await tuiAnn.waitForScreen("ann connected") { $0.status.hasPrefix(" ●") }

        // Tab completes the directory's only file (the space escaped), then a caption.
        try await tuiAnn.type("/upload \(source)/rep")
        try await tuiAnn.press("Tab")
        try await tuiAnn.waitForScreen("the path completed") { $0.input.contains("report\\ 日本.txt") }
        try await tuiAnn.type("the numbers")
        try await tuiAnn.press("Enter")
        try await tuiAnn.waitForScreen("the upload done") { $0.status.contains("uploaded report 日本.txt") }
        let line = "📎 report 日本.txt · 300.0 KB · text/plain  the numbers"
        try await tuiBen.waitForScreen("the file message in ben's TUI") {
            $0.messageRows.contains { $0.text == line }
        }

        try await tuiBen.type("/download")
        try await tuiBen.press("Enter")
        try await tuiBen.waitForScreen("saved") { $0.status.contains("saved \(downloads)/report 日本.txt") }
        #expect(try FileTransfer.sha256(ofFile: downloads + "/report 日本.txt") == sha)
        try await tuiBen.type("/download")
        try await tuiBen.press("Enter")
        try await tuiBen.waitForScreen("saved again under a new name") {
            $0.status.contains("saved \(downloads)/report 日本 (1).txt")
        }
        #expect(try FileTransfer.sha256(ofFile: downloads + "/report 日本 (1).txt") == sha)

        try await tuiBen.type("/open")
        try await tuiBen.press("Enter")
        try await tuiBen.waitForScreen("opened") { $0.status.contains("opened report 日本.txt") }
        var openedPath = ""
        for _ in 0..<50 where openedPath.isEmpty {
            openedPath = (try? String(contentsOfFile: opened, encoding: .utf8)) ?? ""
            if openedPath.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(openedPath == downloads + "/cache/chat/files/\(sha)/report 日本.txt")
        #expect(try FileTransfer.sha256(ofFile: openedPath) == sha)
    }
}
