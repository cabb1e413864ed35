/// Input from the terminal.
package enum TerminalInput: Sendable, Equatable {
    case key(Key)
    case text(String)
    case resize(Size)
}

/// Something that shows frames and produces input: ncurses for real, a recorder in tests.
package protocol TerminalBackend: Sendable {
    /// Keys, pasted text and resizes, in order.
    var input: AsyncStream<TerminalInput> { get }
    /// Shows a frame (painting only what changed since the last one).
    ///
    /// - Parameters:
    ///   - frame: the rendered screen.
    func present(_ frame: ScreenBuffer)
    /// Rings the terminal bell.
    func bell()
    /// Restores the terminal.
    func stop()
}
