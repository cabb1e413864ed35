import ChatFuzz
import Foundation

// Ordinary build: replays saved inputs. Built with -DFUZZING -sanitize=fuzzer (see
// scripts/fuzz.sh): hands the same function to libFuzzer's driver.

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    LogRecordFuzzer.testOneInput(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzTestOneInput))
#else
exit(
    FuzzReplay.main(
        name: "fuzz-log-record",
        arguments: Array(CommandLine.arguments.dropFirst()),
        LogRecordFuzzer.testOneInput
    )
)
#endif
