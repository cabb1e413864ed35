/// What the binaries report for `--version`.
///
/// `scripts/release.sh` writes the release's version and commit into this file for its build and
/// puts the file back afterwards; a build from a checkout says `dev` and `unknown`.
package enum BuildInfo {
    /// The release version, e.g. `0.3.0`.
    package static let version = "dev"
    /// The commit the release was built from (12 hex digits, `-dirty` with local changes).
    package static let commit = "unknown"
    /// `VERSION (commit COMMIT)`: the `--version` line.
    package static var description: String { "\(version) (commit \(commit))" }
}
