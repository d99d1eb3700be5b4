// The HTTP helpers' API is made of the refresher's types (RedisRefresher, Credentials, RefreshedTokens, ...).
@_exported import RedisRefresher
