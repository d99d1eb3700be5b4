// The client types the refresher's API mentions, so that its users need no `import RedisClient`: the configuration
// of its connections, the command connection it shares (`RefresherConnections.commands`), and the Redis error kept
// in a `RefresherError`.

@_exported import struct RedisClient.RedisConfiguration
@_exported import class RedisClient.RedisConnection
@_exported import struct RedisClient.RedisError
