// The refresher types this module's API is made of: the refresher it drives, the credentials it applies, the tokens
// a refresh returns and the errors a request or a refresh throws.

@_exported import struct RedisRefresher.Credentials
@_exported import class RedisRefresher.RedisRefresher
@_exported import struct RedisRefresher.RefreshFailure
@_exported import struct RedisRefresher.RefreshedTokens
@_exported import struct RedisRefresher.RefresherError
