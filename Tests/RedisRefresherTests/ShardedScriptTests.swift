import Testing

@testable import RedisRefresher

@Suite("Scripts on a cluster")
struct ShardedScriptTests {
    @Test("The cluster form publishes with SPUBLISH only, and refuses before writing where SPUBLISH cannot exist")
    func shardedForm() {
        for (classic, sharded) in zip(ScriptSet.classic.all, ScriptSet.sharded.all) {
            #expect(classic.source.contains("'PUBLISH'"))
            #expect(!sharded.source.contains("'PUBLISH'"))
            #expect(sharded.source.contains("redis.acl_check_cmd('SPUBLISH', channel) end\n  return false"))
            #expect(classic.source.contains("redis.acl_check_cmd('PUBLISH', channel) end\n  return true"))
            #expect(classic.sha1 != sharded.sha1)
        }
    }
}
