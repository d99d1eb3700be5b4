// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "redis-refresher",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "RedisRefresher", targets: ["RedisRefresher"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0")
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RedisRefresher",
            dependencies: [
                "RedisClient",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RedisTestSupport",
            dependencies: ["RedisClient"],
            path: "Tests/RedisTestSupport"
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: ["RedisClient", "RedisTestSupport"]
        ),
        .executableTarget(
            name: "refresher-test-worker",
            dependencies: ["RedisRefresher", "RedisTestSupport"],
            path: "Tests/TestWorker"
        ),
        .testTarget(
            name: "RedisRefresherTests",
            dependencies: ["RedisRefresher", "RedisTestSupport", "refresher-test-worker"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
