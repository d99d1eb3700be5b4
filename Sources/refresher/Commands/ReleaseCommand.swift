import ArgumentParser
struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "TODO")
    func run() async throws {}
}
