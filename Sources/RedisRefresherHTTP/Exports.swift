// The refresher types this module's API is made of, and what it takes to create the refresher it drives: the
// refresher and its configuration and shared connections, the credentials it applies, the tokens a refresh returns,
// the errors a request or a refresh throws, and the events a fleet publishes.

@_exported import struct RedisRefresher.Credentials
@_exported import class RedisRefresher.RedisRefresher
@_exported import struct RedisRefresher.RefreshFailure
@_exported import struct RedisRefresher.RefreshedTokens
@_exported import struct RedisRefresher.RefresherConfiguration
@_exported import class RedisRefresher.RefresherConnections
@_exported import struct RedisRefresher.RefresherError
@_exported import enum RedisRefresher.RefresherEvent
