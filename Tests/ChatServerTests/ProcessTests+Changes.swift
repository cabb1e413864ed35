import ChatConformance
import ChatCore
import Foundation
import Testing

extension ProcessTests {
    @Test(
        "chat edit, delete, react and send --reply-to change messages; chat tail prints every change",
        .timeLimit(.minutes(1))
    )
    func cliChanges() async throws {
        let server = try await Self.startServer()
        defer { server.process.terminate() }
        let config = NSTemporaryDirectory() + "chat-cli-\(UUID().uuidString)"
        let (alice, bob) = ("alice\(Int.random(in: 1000...9999))", "bob\(Int.random(in: 1000...9999))")
        /// Runs `chat` with the user's stored token; returns the exit status, stdout and stderr.
        func chat(_ user: String, _ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
            let (process, out) = try Self.chatProcess(
                [arguments[0], "--server", server.url, "--user", user] + arguments.dropFirst(),
                config: config,
                password: nil
            )
            let err = Pipe()
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let status = try await Self.waitForExit(process)
            return (
                status,
                String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            )
        }
        /// The seq a successful command printed.
        func seq(_ result: (status: Int32, out: String, err: String)) -> Int64? {
            guard result.status == 0, case .object(let o)? = try? JSONParser().parse(result.out) else { return nil }
            return o["seq"]?.intValue
        }
        for user in [alice, bob] {
            let (process, _) = try Self.chatProcess(
                ["login", "--server", server.url, "--user", user, "--register"],
                config: config,
                password: "cli-password"
            )
            process.standardInput = FileHandle.nullDevice
            try process.run()
            #expect(try await Self.waitForExit(process) == 0)
        }
        #expect(seq(try await chat(alice, ["send", "--room", "cli", "hello"])) == 1)
        #expect(seq(try await chat(bob, ["send", "--room", "cli", "hi"])) == 2)

        let (tail, out) = try Self.chatProcess(
            ["tail", "--server", server.url, "--user", alice, "--room", "cli", "--since", "0"],
            config: config,
            password: nil
        )
        try tail.run()
        defer { tail.terminate() }
        var lines: [String] = []
        var buffer = Data()
        let reader = out.fileHandleForReading
        func read(until count: Int) {
            while lines.count < count {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
            }
        }
        read(until: 2)  // the backlog: tail has joined

        #expect(seq(try await chat(bob, ["send", "--room", "cli", "--reply-to", "1", "re: hello"])) == 3)
        #expect(seq(try await chat(alice, ["edit", "cli", "1", "hello, edited"])) == 4)
        let refused = try await chat(bob, ["edit", "cli", "1", "not mine"])
        #expect(refused.status != 0 && refused.out.isEmpty)
        #expect(refused.err.contains("edit failed") && refused.err.contains("forbidden"), "\(refused.err)")
        #expect(seq(try await chat(bob, ["react", "cli", "1", "👍"])) == 5)
        #expect(seq(try await chat(bob, ["react", "cli", "1", "👍"])) == 5, "the same reaction again: the first seq")
        #expect(seq(try await chat(bob, ["react", "--remove", "cli", "1", "👍"])) == 6)
        let notHeld = try await chat(bob, ["unreact", "cli", "1", "👍"])
        #expect(notHeld.status != 0 && notHeld.err.contains("not_found"), "\(notHeld.err)")
        #expect(seq(try await chat(bob, ["react", "cli", "1", "👨‍👩‍👧‍👦"])) == 7)
        let notAnEmoji = try await chat(bob, ["react", "cli", "1", "x"])
        #expect(notAnEmoji.status != 0 && notAnEmoji.err.contains("bad_request"), "\(notAnEmoji.err)")
        let notAuthor = try await chat(alice, ["delete", "cli", "2"])
        #expect(notAuthor.status != 0 && notAuthor.err.contains("delete failed"), "\(notAuthor.err)")
        #expect(seq(try await chat(bob, ["delete", "cli", "2"])) == 8)
        let missing = try await chat(bob, ["send", "--room", "cli", "--reply-to", "99", "to nothing"])
        #expect(missing.status != 0 && missing.err.contains("not_found"), "\(missing.err)")

        read(until: 8)
        let objects = lines.compactMap { line -> JSONObject? in
            guard case .object(let o)? = try? JSONParser().parse(line) else { return nil }
            return o
        }
        #expect(objects.count == lines.count, "every line is a JSON object: \(lines)")
        #expect(objects.map { $0["seq"]?.intValue ?? 0 } == Array(1...8), "\(lines)")
        #expect(
            objects.map { $0["kind"]?.stringValue ?? "" }
                == ["text", "text", "text", "edit", "react", "unreact", "react", "delete"],
            "\(lines)"
        )
        guard objects.count == 8 else { return }
        #expect(objects[2]["reply_to"]?.intValue == 1)
        #expect(objects[3]["target"]?.intValue == 1 && objects[3]["text"]?.stringValue == "hello, edited")
        #expect(objects[3]["from"]?.stringValue == alice)
        for i in [4, 5] {
            #expect(objects[i]["target"]?.intValue == 1 && objects[i]["emoji"]?.stringValue == "👍")
            #expect(objects[i]["from"]?.stringValue == bob && objects[i]["text"] == nil)
        }
        #expect(objects[6]["emoji"]?.stringValue == "👨‍👩‍👧‍👦", "a ZWJ sequence arrives whole: \(lines[6])")
        #expect(
            objects[7]["target"]?.intValue == 2 && objects[7]["text"] == nil && objects[7]["from"]?.stringValue == bob
        )
    }
}
