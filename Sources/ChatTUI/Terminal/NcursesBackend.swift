import CNCursesW
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The ncurses terminal. All ncurses calls happen on one dedicated thread, which sleeps in
/// `poll(2)` on standard input and a wake-up pipe: no busy polling, so an idle client uses no
/// CPU. Frames are diffed cell by cell against the last one and only changes are painted.
package final class NcursesBackend: TerminalBackend, @unchecked Sendable {
    // @unchecked: `pendingFrame`, `pendingBell` and `stopping` are guarded by `lock`; every
    // other field is touched only on the terminal thread.
    package let input: AsyncStream<TerminalInput>
    private let continuation: AsyncStream<TerminalInput>.Continuation
    private let lock = NSLock()
    private var pendingFrame: ScreenBuffer?
    private var pendingBell = false
    private var resizePending = false
    private var stopping = false
    private var resizeSource: (any DispatchSourceSignal)?
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private let finished = DispatchSemaphore(value: 0)
    private var last: ScreenBuffer?
    private var pairs: [UInt32: Int16] = [:]
    private var colors = 8

    /// Creates the backend; `start()` takes over the terminal.
    package init() {
        (input, continuation) = AsyncStream.makeStream(of: TerminalInput.self)
    }

    /// Starts the terminal thread.
    package func start() {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(wakeRead, F_SETFL, O_NONBLOCK)
        // SIGWINCH may be delivered to any thread; a signal source wakes the terminal thread at
        // once (ncurses then sees our handler installed and leaves resizing to us).
        let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
        source.setEventHandler { [self] in
            lock.lock()
            resizePending = true
            lock.unlock()
            wake()
        }
        source.resume()
        resizeSource = source
        let thread = Thread { [self] in loop() }
        thread.name = "chat-terminal"
        thread.start()
    }

    package func present(_ frame: ScreenBuffer) {
        lock.lock()
        pendingFrame = frame
        lock.unlock()
        wake()
    }

    package func bell() {
        lock.lock()
        pendingBell = true
        lock.unlock()
        wake()
    }

    package func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        wake()
        finished.wait()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func loop() {
        setlocale(LC_ALL, "")
        initscr()
        raw()
        noecho()
        nonl()
        keypad(chat_stdscr(), true)
        nodelay(chat_stdscr(), true)
        set_escdelay(25)
        if has_colors() {
            start_color()
            use_default_colors()
            colors = Int(chat_colors())
        }
        continuation.yield(.resize(currentSize()))
        var fds = [
            pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            lock.lock()
            let stop = stopping
            let frame = pendingFrame
            let ring = pendingBell
            let resized = resizePending
            pendingFrame = nil
            pendingBell = false
            resizePending = false
            lock.unlock()
            if stop { break }
            if resized { applyResize() }
            if let frame { draw(frame) }
            if ring { beep() }
            readKeys()
            fds[0].revents = 0
            fds[1].revents = 0
            // A 1 s timeout only so a resize signal taken by another thread is still noticed.
            _ = poll(&fds, 2, 1000)
            if fds[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &sink, sink.count) > 0 {}
            }
        }
        endwin()
        resizeSource?.cancel()
        continuation.finish()
        finished.signal()
    }

    private func applyResize() {
        var rows: Int32 = 0
        var cols: Int32 = 0
        if chat_winsize(&rows, &cols) == 0, rows > 0, cols > 0 {
            resizeterm(rows, cols)
        }
        last = nil
        continuation.yield(.resize(currentSize()))
    }

    private func currentSize() -> Size {
        Size(width: Int(getmaxx(chat_stdscr())), height: Int(getmaxy(chat_stdscr())))
    }

    private func readKeys() {
        var text = ""
        while true {
            var ch: wint_t = 0
            let result = wget_wch(chat_stdscr(), &ch)
            if result == ERR { break }
            if result == KEY_CODE_YES {
                if !text.isEmpty {
                    continuation.yield(.text(text))
                    text = ""
                }
                if let input = Self.decode(keyCode: Int32(ch)) {
                    if case .resize = input {
                        continuation.yield(.resize(currentSize()))
                    } else {
                        continuation.yield(input)
                    }
                }
                continue
            }
            switch ch {
            case 27:
                var next: wint_t = 0
                if wget_wch(chat_stdscr(), &next) == OK {
                    if next == 10 || next == 13 {
                        continuation.yield(.key(.altEnter))
                    } else if let scalar = Unicode.Scalar(UInt32(next)) {
                        continuation.yield(.key(.alt(Character(scalar))))
                    }
                } else {
                    continuation.yield(.key(.escape))
                }
            case 10, 13: flush(&text, then: .enter)
            case 9: flush(&text, then: .tab)
            case 8, 127: flush(&text, then: .backspace)
            case 1...26:
                flush(&text, then: .ctrl(Character(Unicode.Scalar(UInt8(ch) + 96))))
            default:
                if let scalar = Unicode.Scalar(UInt32(ch)), scalar.value >= 32 { text.unicodeScalars.append(scalar) }
            }
        }
        if text.count == 1, let c = text.first {
            continuation.yield(.key(.character(c)))
        } else if !text.isEmpty {
            // Several characters at once: an input method committing text, or a paste.
            continuation.yield(.text(text))
        }
    }

    private func flush(_ text: inout String, then key: Key) {
        if text.count == 1, let c = text.first {
            continuation.yield(.key(.character(c)))
        } else if !text.isEmpty {
            continuation.yield(.text(text))
        }
        text = ""
        continuation.yield(.key(key))
    }

    static func decode(keyCode: Int32) -> TerminalInput? {
        switch keyCode {
        case KEY_UP: return .key(.up)
        case KEY_DOWN: return .key(.down)
        case KEY_LEFT: return .key(.left)
        case KEY_RIGHT: return .key(.right)
        case KEY_HOME: return .key(.home)
        case KEY_END: return .key(.end)
        case KEY_PPAGE: return .key(.pageUp)
        case KEY_NPAGE: return .key(.pageDown)
        case KEY_BACKSPACE: return .key(.backspace)
        case KEY_DC: return .key(.delete)
        case KEY_ENTER: return .key(.enter)
        case KEY_RESIZE: return .resize(Size(width: 0, height: 0))
        default: return nil
        }
    }

    /// The cluster as wide characters, or a stand-in of the same width when ncurses and the
    /// terminal would measure it differently (ZWJ sequences, skin tones, VS16 on a narrow base:
    /// `wcwidth` adds up their scalars, which would shift the rest of the line).
    static func terminalSafe(_ cluster: String, width: Int) -> [wchar_t] {
        let scalars = cluster.unicodeScalars.map { wchar_t(bitPattern: $0.value) }
        let measured = scalars.reduce(0) { $0 + max(0, Int(chat_wcwidth($1))) }
        if measured == width { return scalars }
        if let base = scalars.first, Int(chat_wcwidth(base)) == width { return [base] }
        if let base = scalars.first, Int(chat_wcwidth(base)) == 1, width == 2 { return [base, 0x20] }
        return Array(repeating: 0xFFFD, count: 1) + (width == 2 ? [0x20] : [])
    }

    private func attributes(_ style: CellStyle) -> Int32 {
        var attrs: Int32 = 0
        if style.bold { attrs |= chat_a_bold() }
        if style.dim { attrs |= chat_a_dim() }
        if style.reverse { attrs |= chat_a_reverse() }
        if style.underline { attrs |= chat_a_underline() }
        let fg = colorNumber(style.fg)
        let bg = colorNumber(style.bg)
        if fg != -1 || bg != -1 {
            let key = UInt32(UInt16(bitPattern: fg)) << 16 | UInt32(UInt16(bitPattern: bg))
            let pair: Int16
            if let existing = pairs[key] {
                pair = existing
            } else {
                pair = Int16(pairs.count + 1)
                if Int32(pair) < chat_color_pairs() {
                    init_pair(pair, fg, bg)
                    pairs[key] = pair
                }
            }
            if Int32(pair) < chat_color_pairs() { attrs |= chat_color_pair(Int32(pair)) }
        }
        return attrs
    }

    private func colorNumber(_ color: TermColor) -> Int16 {
        switch color {
        case .default: return -1
        case .basic(let n): return Int16(n % 8)
        case .indexed(let n): return colors >= 256 ? Int16(n) : Int16(n % 8)
        }
    }

    private func draw(_ frame: ScreenBuffer) {
        let size = frame.size
        let full = last?.size != size
        if full { erase() }
        for row in 0..<size.height {
            var col = 0
            while col < size.width {
                let cell = frame[row, col]
                if cell.isContinuation || (!full && last?[row, col] == cell) {
                    col += 1
                    continue
                }
                // A run of changed cells with one style.
                var text: [wchar_t] = []
                let style = cell.style
                let start = col
                while col < size.width {
                    let c = frame[row, col]
                    if c.style != style { break }
                    if !full, last?[row, col] == c, !c.isContinuation { break }
                    if !c.isContinuation {
                        let wide = col + 1 < size.width && frame[row, col + 1].isContinuation
                        text += Self.terminalSafe(c.text, width: wide ? 2 : 1)
                    }
                    col += 1
                }
                _ = attrset(attributes(style))
                _ = mvaddnwstr(Int32(row), Int32(start), text, Int32(text.count))
            }
        }
        _ = attrset(0)
        if let cursor = frame.cursor {
            curs_set(1)
            move(Int32(cursor.row), Int32(cursor.column))
        } else {
            curs_set(0)
        }
        refresh()
        last = frame
    }
}
