import Synchronization

/// A terminal for tests: records every frame and bell, and takes scripted input. Drives a `TUIRuntime`
/// without ncurses.
package final class TestBackend: TerminalBackend {
    /// The scripted input (see `send(_:)` and `type(_:)`).
    package let input: AsyncStream<TerminalInput>
    private let continuation: AsyncStream<TerminalInput>.Continuation
    private let recorded = Mutex<(frames: [ScreenBuffer], bells: Int, stopped: Bool)>(([], 0, false))

    /// Creates a backend with no input yet.
    package init() {
        (input, continuation) = AsyncStream.makeStream(of: TerminalInput.self)
    }

    /// Every frame presented, in order.
    package var frames: [ScreenBuffer] { recorded.withLock { $0.frames } }
    /// How often the bell rang.
    package var bells: Int { recorded.withLock { $0.bells } }
    /// Whether `stop()` was called (the terminal restored).
    package var stopped: Bool { recorded.withLock { $0.stopped } }

    /// Feeds input as if typed.
    ///
    /// - Parameters:
    ///   - inputs: keys, pasted text or resizes, in order.
    package func send(_ inputs: TerminalInput...) {
        for input in inputs { continuation.yield(input) }
    }

    /// Types text one key per character.
    ///
    /// - Parameters:
    ///   - text: what to type.
    package func type(_ text: String) {
        for c in text { continuation.yield(.key(.character(c))) }
    }

    /// Waits (polling, bounded) for a presented frame that satisfies a condition.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait.
    ///   - condition: what the frame must show.
    /// - Returns: the first such frame, or nil after `timeout`.
    package func waitForFrame(
        // Generous: a frame that comes returns at once; only a missing one waits it all (5 s was
        // missed on a loaded machine, by every test of a run at once).
        timeout: Duration = .seconds(20),
        _ condition: (ScreenBuffer) -> Bool
    ) async -> ScreenBuffer? {
        let deadline = ContinuousClock.now + timeout
        var checked = 0
        while true {
            let frames = self.frames
            if let found = frames.dropFirst(checked).first(where: condition) { return found }
            checked = frames.count
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Records a frame.
    ///
    /// - Parameters:
    ///   - frame: the rendered screen.
    package func present(_ frame: ScreenBuffer) {
        recorded.withLock { $0.frames.append(frame) }
    }

    /// Counts a bell.
    package func bell() {
        recorded.withLock { $0.bells += 1 }
    }

    /// Notes that the terminal was restored and ends the input.
    package func stop() {
        recorded.withLock { $0.stopped = true }
        continuation.finish()
    }
}
