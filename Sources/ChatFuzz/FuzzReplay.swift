import Foundation

/// Runs saved inputs through a fuzz target without libFuzzer: what a fuzz executable
/// does in an ordinary build, and what the tests do with the seed corpus.
package enum FuzzReplay {
    /// The files to replay: each file named, and each regular file directly inside
    /// each directory named, in name order.
    ///
    /// - Parameters:
    ///   - paths: files and directories.
    package static func inputs(_ paths: [String]) throws -> [URL] {
        var files: [URL] = []
        for path in paths {
            let url = URL(fileURLWithPath: path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path])
            }
            guard isDirectory.boolValue else {
                files.append(url)
                continue
            }
            let entries = try FileManager.default.contentsOfDirectory(
                at: url,
                includingPropertiesForKeys: [.isRegularFileKey]
            )
            files += try entries.filter { try $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
        return files
    }

    /// Replays every input; returns how many ran. A crashing input stops the process.
    ///
    /// - Parameters:
    ///   - paths: files and directories.
    ///   - testOneInput: the target.
    @discardableResult
    package static func run(_ paths: [String], _ testOneInput: (UnsafeRawBufferPointer) -> Void) throws -> Int {
        let files = try inputs(paths)
        for file in files {
            let data = try Data(contentsOf: file)
            data.withUnsafeBytes { testOneInput($0) }
        }
        return files.count
    }

    /// The `main` of a fuzz executable built without libFuzzer: replays the files and
    /// directories on the command line and exits 0 (non-zero on a missing file).
    ///
    /// - Parameters:
    ///   - name: the executable's name, for messages.
    ///   - arguments: command-line arguments after the executable.
    ///   - testOneInput: the target.
    package static func main(
        name: String,
        arguments: [String],
        _ testOneInput: (UnsafeRawBufferPointer) -> Void
    ) -> Int32 {
        let paths = arguments.filter { !$0.hasPrefix("-") }
        guard !paths.isEmpty, paths.count == arguments.count else {
            let message = """
                usage: \(name) FILE|DIR...
                  replays saved inputs (this build has no libFuzzer; build with
                  -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer to fuzz, see scripts/fuzz.sh)

                """
            FileHandle.standardError.write(Data(message.utf8))
            return 2
        }
        do {
            let count = try run(paths, testOneInput)
            print("\(name): replayed \(count) inputs, no crash")
            return 0
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            return 1
        }
    }
}
