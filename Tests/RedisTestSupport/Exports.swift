// Tests talk to Redis with the client directly (set up keys, read what the refresher wrote, kill connections), so
// every test target that uses this support module sees the whole client.
@_exported import RedisClient
// Tests that need a primary, replicas and sentinels start them with RedisTopology.
@_exported import RedisTopology
