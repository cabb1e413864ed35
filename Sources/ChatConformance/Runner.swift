import ChatCore

/// The outcome of one case.
package struct CaseResult: Sendable {
    package enum Outcome: Sendable, Equatable {
        case passed
        case failed(String)
        case skipped(String)
    }

    package let name: String
    package let section: String
    package let outcome: Outcome
    package let seconds: Double

    /// One line for the terminal.
    package var line: String {
        switch outcome {
        case .passed: return "PASS \(name)"
        case .failed(let why): return "FAIL \(name) [\(section)]: \(why)"
        case .skipped(let why): return "SKIP \(name): needs \(why)"
        }
    }
}

/// Runs cases with a timeout and renders reports.
package enum Runner {
    /// Runs one case, skipping it when the server's limits do not fit.
    ///
    /// - Parameters:
    ///   - c: the case.
    ///   - context: the server under test.
    ///   - timeout: longest the case may take.
    package static func run(_ c: ConformanceCase, context: ConformanceContext, timeout: Duration) async -> CaseResult {
        if let requirement = c.requirement, !requirement.isMet(by: context) {
            return CaseResult(name: c.name, section: c.section, outcome: .skipped(requirement.description), seconds: 0)
        }
        let start = ContinuousClock.now
        let outcome: CaseResult.Outcome
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await c.run(context)
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
                let finished = try await group.next() ?? false
                group.cancelAll()
                if !finished { throw ConformanceFailure("timed out after \(timeout)") }
            }
            outcome = .passed
        } catch let failure as ConformanceFailure {
            outcome = .failed(failure.message)
        } catch {
            outcome = .failed("\(error)")
        }
        // Leave the rooms and log out the users the case made, so a live server keeps no sessions.
        await context.cleanUp()
        let elapsed = start.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return CaseResult(name: c.name, section: c.section, outcome: outcome, seconds: seconds)
    }

    /// A JUnit XML report.
    ///
    /// - Parameters:
    ///   - results: case results.
    package static func junit(_ results: [CaseResult]) -> String {
        func escape(_ s: String) -> String {
            var out = ""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case _ where scalar.value < 0x20 && scalar != "\n" && scalar != "\t": out += "?"
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out
        }
        let failures = results.filter { if case .failed = $0.outcome { return true } else { return false } }.count
        let skipped = results.filter { if case .skipped = $0.outcome { return true } else { return false } }.count
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuite name=\"chat-conformance\" tests=\"\(results.count)\" failures=\"\(failures)\""
        xml += " skipped=\"\(skipped)\">\n"
        for r in results {
            xml += "  <testcase classname=\"\(escape(r.section))\" name=\"\(escape(r.name))\" time=\"\(r.seconds)\""
            switch r.outcome {
            case .passed: xml += "/>\n"
            case .failed(let why): xml += ">\n    <failure message=\"\(escape(why))\"/>\n  </testcase>\n"
            case .skipped(let why): xml += ">\n    <skipped message=\"\(escape(why))\"/>\n  </testcase>\n"
            }
        }
        return xml + "</testsuite>\n"
    }
}
