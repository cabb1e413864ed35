import ChatTUI
import Testing

@Suite("config.toml settings")
struct SettingsTests {
    @Test("every key, comments, escapes and arrays")
    func parsesEverything() throws {
        let text = """
            # chat settings
            server = "ws://chat.lan:7878"   # the box under the stairs
            user = "アリス"
            bell = false
            color = true
            time_format = "12h"
            log_file = "/tmp/chat \\"log\\".txt"
            rooms = ["lobby", "dev, ops", "日本語"]

            """
        let settings = try Settings.parse(text)
        #expect(settings.server == "ws://chat.lan:7878")
        #expect(settings.user == "アリス")
        #expect(settings.bell == false)
        #expect(settings.color == true)
        #expect(settings.timeFormat == "12h")
        #expect(settings.logFile == "/tmp/chat \"log\".txt")
        #expect(settings.rooms == ["lobby", "dev, ops", "日本語"])
    }

    @Test(
        "the file written on the first start reads back as the two answers",
        arguments: [
            ("ws://chat.lan:7878/v1/ws", "アリス"), ("wss://[::1]:7878/v1/ws", "a\"b\\c"),
        ]
    )
    func firstRunFile(_ server: String, _ user: String) throws {
        var expected = Settings()
        expected.server = server
        expected.user = user
        #expect(try Settings.parse(Settings.firstRunFile(server: server, user: user)) == expected)
    }

    @Test("an empty file sets nothing")
    func empty() throws {
        #expect(try Settings.parse("") == Settings())
        #expect(try Settings.parse("# only a comment\n\n") == Settings())
    }

    @Test(
        "bad lines are refused with their line number",
        arguments: [
            ("bell = yes", 1, "bell must be true or false"), ("\nserver = ws://x", 2, "quoted string"),
            ("nonsense", 1, "expected key = value"), ("volume = 3", 1, "unknown key 'volume'"),
            ("time_format = \"25h\"", 1, "time_format"), ("rooms = \"lobby\"", 1, "array of strings"),
            ("rooms = [lobby]", 1, "array of strings"), ("user = \"unterminated", 1, "quoted string"),
        ]
    )
    func refusesBadLines(_ text: String, _ line: Int, _ fragment: String) {
        do {
            _ = try Settings.parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test("12-hour clock keeps five-or-six-column times right-aligned")
    func twelveHour() {
        #expect(clock(0, offset: 0) == "00:00")
        #expect(clock(0, offset: 0, twelveHour: true) == "12:00a")
        #expect(clock(13 * 3_600_000 + 5 * 60_000, offset: 0, twelveHour: true) == " 1:05p")
        #expect(clock(13 * 3_600_000 + 5 * 60_000, offset: 0) == "13:05")
        #expect(clock(0, offset: 9 * 3600) == "09:00")
    }
}
