import RedisClient
import Testing

@Suite("RedisValue and RedisError helpers")
struct ValueTests {
    @Test func stringHelper() {
        #expect(RedisValue.bulk(Array("héllo".utf8)).string == "héllo")
        #expect(RedisValue.status("OK").string == "OK")
        #expect(RedisValue.integer(-42).string == "-42")
        #expect(RedisValue.null.string == nil)
        #expect(RedisValue.array([.bulk([65])]).string == nil)
        #expect(RedisValue.error("ERR x").string == nil)
    }

    @Test func intHelper() {
        #expect(RedisValue.integer(7).int == 7)
        #expect(RedisValue.bulk(Array("-123".utf8)).int == -123)
        #expect(RedisValue.bulk(Array("12a".utf8)).int == nil)
        #expect(RedisValue.bulk([]).int == nil)
        #expect(RedisValue.status("5").int == nil)
        #expect(RedisValue.null.int == nil)
    }

    @Test func bytesArrayAndNullHelpers() {
        #expect(RedisValue.bulk([0, 13, 10]).bytes == [0, 13, 10])
        #expect(RedisValue.status("OK").bytes == Array("OK".utf8))
        #expect(RedisValue.integer(1).bytes == nil)
        #expect(RedisValue.array([.null, .integer(1)]).array == [.null, .integer(1)])
        #expect(RedisValue.bulk([]).array == nil)
        #expect(RedisValue.null.isNull)
        #expect(!RedisValue.bulk([]).isNull)
    }

    @Test func hashHelper() {
        let reply = RedisValue.array([
            .bulk(Array("name".utf8)), .bulk(Array("redis".utf8)),
            .bulk(Array("bin".utf8)), .bulk([0, 255]),
        ])
        #expect(reply.hash == ["name": Array("redis".utf8), "bin": [0, 255]])
        #expect(RedisValue.array([]).hash == [:])
        // An odd number of elements or a non-string field is not a hash.
        #expect(RedisValue.array([.bulk(Array("a".utf8))]).hash == nil)
        #expect(RedisValue.array([.null, .bulk([1])]).hash == nil)
        #expect(RedisValue.bulk([1]).hash == nil)
    }

    @Test func descriptionNeverShowsBulkContents() {
        let secret = RedisValue.bulk(Array("hunter2-password".utf8))
        #expect(secret.description == "$<16 bytes>")
        #expect(!secret.description.contains("hunter2"))
        let nested = RedisValue.array([.status("OK"), .integer(3), .null, secret, .array([secret]), .error("ERR no")])
        #expect(nested.description == "[+OK, :3, (nil), $<16 bytes>, [$<16 bytes>], -ERR no]")
        #expect(!"\(nested)".contains("hunter2"))
        #expect(!String(describing: [secret]).contains("hunter2"))
    }

    @Test func errorHelpers() {
        let wrongType = RedisError(.server, "WRONGTYPE Operation against a key holding the wrong kind of value")
        #expect(wrongType.serverErrorPrefix == "WRONGTYPE")
        #expect(!wrongType.isConnectionError)
        #expect(RedisError(.timeout, "x").serverErrorPrefix == nil)
        for code in [RedisError.Code.connectionFailed, .connectionClosed, .io, .timeout] {
            #expect(RedisError(code, "x").isConnectionError)
        }
        for code in [
            RedisError.Code.server, .invalidURL, .invalidConfiguration, .authenticationFailed,
            .protocolError, .cancelled, .clientClosed,
        ] {
            #expect(!RedisError(code, "x").isConnectionError)
        }
        #expect(RedisError(.clientClosed, "closed").description == "RedisError(clientClosed): closed")
    }

    @Test func commandNameAndCount() {
        var command = RedisCommand("set", "key", RedisArgument([0, 1, 2]))
        command.append(RedisArgument(42))
        #expect(command.count == 4)
        #expect(command.name == "SET")
        #expect(RedisCommand([]).name == "")
        #expect(RedisCommand("GET", "a") == RedisCommand(["GET", "a"]))
        // The packed buffer keeps argument boundaries: these differ although their bytes concatenate equally.
        #expect(RedisCommand("GET", "ab") != RedisCommand("GET", "a", "b"))
    }
}
