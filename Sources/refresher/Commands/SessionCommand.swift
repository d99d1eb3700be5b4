import ArgumentParser
struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "session", abstract: "TODO")
    func run() async throws {}
}
