import Foundation

#if FUZZING
import Synchronization
#endif

/// The `main` of every fuzz executable, so each `main.swift` is one call naming its
/// target.
///
/// Built with `-Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address` (scripts/fuzz.sh)
/// it hands the target to libFuzzer's driver; in an ordinary build it replays the saved
/// inputs named on the command line through ``FuzzReplay``.
package enum FuzzDriver {
    /// Runs the fuzz executable and exits with its status.
    ///
    /// - Parameters:
    ///   - name: the executable's name, for messages.
    ///   - testOneInput: the target.
    package static func main(
        name: String,
        _ testOneInput: @escaping @Sendable (UnsafeRawBufferPointer) -> Void
    ) -> Never {
        #if FUZZING
        fuzzTarget.withLock { $0 = testOneInput }
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzTestOneInput))
        #else
        exit(FuzzReplay.main(name: name, arguments: Array(CommandLine.arguments.dropFirst()), testOneInput))
        #endif
    }
}

#if FUZZING
/// The target of this executable, set by ``FuzzDriver/main(name:_:)`` before libFuzzer starts.
private let fuzzTarget = Mutex<(@Sendable (UnsafeRawBufferPointer) -> Void)?>(nil)

/// The C entry point libFuzzer links against and calls once per input. It lives here,
/// in the library every fuzz executable links, so the symbol is in each binary.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let testOneInput = fuzzTarget.withLock({ $0 }) else {
        fatalError("LLVMFuzzerTestOneInput called before FuzzDriver.main set a target")
    }
    testOneInput(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif
