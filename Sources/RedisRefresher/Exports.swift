// The refresher's API mentions the client's types (RedisConnection, RedisConfiguration, RedisError).
@_exported import RedisClient
