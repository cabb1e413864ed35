import ChatConformance
import ChatServer

extension ServerConfiguration {
    /// ``TestServer/conformanceConfiguration`` as `configure` changes it.
    ///
    /// - Parameters:
    ///   - configure: the changes.
    static func conformance(_ configure: (inout ServerConfiguration) -> Void) -> ServerConfiguration {
        var configuration = TestServer.conformanceConfiguration
        configure(&configuration)
        return configuration
    }
}
