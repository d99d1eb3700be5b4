import ArgumentParser
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "TODO")
    func run() async throws {}
}
