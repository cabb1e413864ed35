import ArgumentParser
import ChatConformance
import ChatCore
import Foundation

@main
struct ChatConformanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-conformance",
        abstract: "Checks a running server against chat protocol v1, over the wire only.",
        discussion: """
            Creates its own users and rooms (names start with 't' and a random run id) and leaves \
            everything else alone. Prints one line per case and a closing 'N passed, N failed, N skipped' \
            line; exits 1 when a case fails. Cases that need particular server limits are skipped, with \
            the reason, when the server's advertised limits do not fit.
            """,
        version: BuildInfo.description
    )

    @Option(
        help: """
            The server's WebSocket URL, e.g. ws://127.0.0.1:7878 (path /v1/ws implied). Give it once per \
            node of a cluster: new connections go to each node in turn, so the parties of a multi-client \
            case sit on different nodes.
            """
    )
    var url: [String]

    @Option(help: "Run only cases whose name contains this text.")
    var filter: String?

    @Flag(help: "List the cases and exit.")
    var list = false

    @Option(help: "Also write a JUnit XML report to this file.")
    var junit: String?

    @Option(help: "Seconds a single case may take.")
    var timeout: Int = 60

    @Option(help: "Folder of JSON test vectors to run as well (default: ./conformance/vectors if present).")
    var vectors: String?

    func run() async throws {
        var cases = ConformanceSuite.cases(matching: filter)
        if let folder = vectors ?? Vectors.defaultDirectory {
            cases += try Vectors.load(directory: folder).filter { filter == nil || $0.name.contains(filter!) }
        }
        if list {
            for c in cases {
                let needs = c.requirement.map { "  (needs \($0.description))" } ?? ""
                print("\(c.name)  [\(c.section)]\(needs)")
            }
            return
        }
        let targets = url.map { $0.contains("://") ? $0 : "ws://" + $0 }
        guard let first = targets.first else {
            print("cannot start: give the server's URL with --url")
            throw ExitCode(2)
        }
        let context: ConformanceContext
        do {
            context = try await ConformanceContext.make(url: first, others: Array(targets.dropFirst()))
        } catch {
            print("cannot start: \(error)")
            throw ExitCode(2)
        }
        var results: [CaseResult] = []
        for c in cases {
            let result = await Runner.run(c, context: context, timeout: .seconds(timeout))
            results.append(result)
            print(result.line)
        }
        let passed = results.filter { $0.outcome == .passed }.count
        let failed = results.filter { if case .failed = $0.outcome { return true } else { return false } }.count
        let skipped = results.count - passed - failed
        print("\(passed) passed, \(failed) failed, \(skipped) skipped")
        if let junit {
            try Runner.junit(results).write(toFile: junit, atomically: true, encoding: .utf8)
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
