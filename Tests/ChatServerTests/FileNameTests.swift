import ChatClient
import ChatCore
import ChatServer
import Foundation
import Testing

/// File names and byte ranges: pure rules, no server.
@Suite("File names and ranges")
struct FileNameTests {
    @Test("a server name from the network never becomes a path outside the download directory")
    func safeLocalNames() {
        #expect(FileNames.safeLocalName("../../etc/passwd") == "_.._etc_passwd")
        #expect(FileNames.safeLocalName("/etc/passwd") == "_etc_passwd")
        #expect(FileNames.safeLocalName("..") == "file")
        #expect(FileNames.safeLocalName(".bashrc") == "bashrc")
        #expect(FileNames.safeLocalName("a\u{1B}[31mred\u{7}.txt") == "a_[31mred_.txt")
        #expect(FileNames.safeLocalName("evil\u{202E}gpj.exe") == "evil_gpj.exe")
        #expect(FileNames.safeLocalName("C:\\x\\y.png") == "C:_x_y.png")
        #expect(FileNames.safeLocalName("") == "file")
        let long = String(repeating: "日", count: 200) + ".png"
        let cut = FileNames.safeLocalName(long)
        #expect(cut.utf8.count <= 255 && cut.hasSuffix(".png"))
        for name in ["../../x", "/abs", "a/b/c", "..", ".", "\u{0}"] {
            let safe = FileNames.safeLocalName(name)
            #expect(!safe.contains("/") && !safe.hasPrefix(".") && !safe.isEmpty, "\(name) → \(safe)")
        }
    }

    @Test("downloads never overwrite: name (1).ext, name (2).ext")
    func freePaths() throws {
        let directory = NSTemporaryDirectory() + "chat-names-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(LocalFiles.freePath(for: "a.png", in: directory) == directory + "/a.png")
        _ = FileManager.default.createFile(atPath: directory + "/a.png", contents: Data())
        #expect(LocalFiles.freePath(for: "a.png", in: directory) == directory + "/a (1).png")
        _ = FileManager.default.createFile(atPath: directory + "/a (1).png", contents: Data())
        #expect(LocalFiles.freePath(for: "a.png", in: directory) == directory + "/a (2).png")
        #expect(LocalFiles.freePath(for: "../a.png", in: directory).hasPrefix(directory + "/"))
        #expect(FileNames.numbered("README", 3) == "README (3)")
    }

    @Test("the download directory: $XDG_DOWNLOAD_DIR, then user-dirs.dirs, then ~/Downloads")
    func downloadDirectory() throws {
        let config = NSTemporaryDirectory() + "chat-userdirs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let base = ["HOME": "/home/ann", "XDG_CONFIG_HOME": config]
        #expect(LocalFiles.downloadDirectory(base) == "/home/ann/Downloads")
        try
            "# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR=\"$HOME/Desktop\"\nXDG_DOWNLOAD_DIR=\"$HOME/Téléchargements\"\n"
            .write(toFile: config + "/user-dirs.dirs", atomically: true, encoding: .utf8)
        #expect(LocalFiles.downloadDirectory(base) == "/home/ann/Téléchargements")
        #expect(LocalFiles.downloadDirectory(base.merging(["XDG_DOWNLOAD_DIR": "/srv/in"]) { $1 }) == "/srv/in")
        #expect(LocalFiles.userDirsDownload("XDG_DOWNLOAD_DIR=\"/data/dl/\"", home: "/h") == "/data/dl")
        #expect(LocalFiles.userDirsDownload("XDG_DOWNLOAD_DIR=\"$HOME/\"", home: "/h") == nil)
        #expect(LocalFiles.userDirsDownload("XDG_DOWNLOAD_DIR=relative", home: "/h") == nil)
    }

    @Test("upload names: the last component, no controls, at most 255 bytes")
    func uploadNames() {
        #expect(FileNames.uploadName(nil) == .success("file"))
        #expect(FileNames.uploadName("dir/sub/report.pdf") == .success("report.pdf"))
        #expect(FileNames.uploadName("..\\..\\boot.ini") == .success("boot.ini"))
        #expect(FileNames.uploadName("..") == .success("file"))
        #expect(FileNames.uploadName("a\u{1B}b").isFailure)
        #expect(FileNames.uploadName("a\u{202E}b").isFailure)
        #expect(FileNames.uploadName(String(repeating: "é", count: 128)).isFailure)
        #expect(
            FileNames.uploadName(String(repeating: "é", count: 127)) == .success(String(repeating: "é", count: 127))
        )
    }

    @Test("Content-Disposition round trip (RFC 6266 / 8187)")
    func contentDisposition() {
        for name in ["scan 日本.png", "a\"b;c.txt", "plain.txt", "100% done.md", "emoji 👍🏽.gif"] {
            let header = FileNames.contentDisposition(name)
            #expect(FileNames.parseContentDisposition(header) == name, "\(header)")
        }
        #expect(FileNames.parseContentDisposition("attachment; filename=\"a \\\"q\\\".txt\"") == "a \"q\".txt")
        #expect(FileNames.parseContentDisposition("attachment; filename=plain.txt") == "plain.txt")
        #expect(FileNames.parseContentDisposition("attachment; filename*=UTF-8''%E6%97%A5.txt") == "日.txt")
        #expect(FileNames.parseContentDisposition("attachment; filename*=UTF-8''%FF.txt") == nil)
        #expect(FileNames.parseContentDisposition("inline") == nil)
    }

    @Test("Range: one range served, several or malformed give the whole file, past the end 416")
    func ranges() {
        #expect(FileRoutes.byteRange("bytes=0-9", size: 100) == .part(0...9))
        #expect(FileRoutes.byteRange("bytes=90-", size: 100) == .part(90...99))
        #expect(FileRoutes.byteRange("bytes=90-500", size: 100) == .part(90...99))
        #expect(FileRoutes.byteRange("bytes=-10", size: 100) == .part(90...99))
        #expect(FileRoutes.byteRange("bytes=-500", size: 100) == .part(0...99))
        #expect(FileRoutes.byteRange("bytes=100-", size: 100) == .unsatisfiable)
        #expect(FileRoutes.byteRange("bytes=-0", size: 100) == .unsatisfiable)
        #expect(FileRoutes.byteRange("bytes=0-1,5-6", size: 100) == .whole)
        #expect(FileRoutes.byteRange("items=0-1", size: 100) == .whole)
        #expect(FileRoutes.byteRange("bytes=9-2", size: 100) == .whole)
        #expect(FileRoutes.byteRange("bytes=x-", size: 100) == .whole)
        #expect(FileRoutes.byteRange("bytes=99999999999999999999-", size: 100) == .whole)
    }

    @Test("sizes for people")
    func humanSizes() {
        #expect(FileRef.humanSize(812) == "812 B")
        #expect(FileRef.humanSize(1_200) == "1.2 KB")
        #expect(FileRef.humanSize(1_234_567) == "1.2 MB")
        #expect(FileRef.humanSize(104_857_600) == "104.9 MB")
        #expect(FileRef.humanSize(999_999) == "1.0 MB")
    }
}

extension Result {
    fileprivate var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
