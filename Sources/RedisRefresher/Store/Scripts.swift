import RedisClient

/// The Lua scripts of the protocol. Each takes the keys `lock, last_refresh_time, session, stats`
/// (``SessionKeys/scriptKeys``) and runs atomically, so every decision and the write it guards are one step.
///
/// Redis does not roll a script back when a command in it fails, so each script publishes before it writes: with a
/// misconfigured ACL that denies PUBLISH, the script fails before changing anything.
enum Scripts {
    /// Refuses to run on keys of the wrong type (someone wrote to `refresher:{S}:*` by hand): the script returns
    /// `{"wrongtype", key, type}` before it changes anything, instead of failing half-way (scripts do not roll back).
    static let typeGuard = """
        local expected = {'string', 'string', 'hash', 'hash'}
        for i = 1, 4 do
          local t = redis.call('TYPE', KEYS[i])['ok']
          if t ~= 'none' and t ~= expected[i] then return {'wrongtype', KEYS[i], t} end
        end

        """

    /// Throws ``RefresherError/Code/redisError`` for a `{"wrongtype", key, type}` reply of ``typeGuard``.
    static func refuseWrongType(_ reply: RedisValue) throws(RefresherError) {
        guard case .array(let parts) = reply, parts.count == 3, parts[0].string == "wrongtype" else { return }
        throw RefresherError(
            .redisError,
            "WRONGTYPE: \(parts[1].string ?? "a refresher key") holds a \(parts[2].string ?? "value") that the "
                + "refresher did not write; nothing was changed (delete or rename that key)")
    }

    /// Checks the stored generation and, while it still equals the caller's, tries the lock.
    ///
    /// ARGV: owner, ttl ms, caller generation, takeover (0/1), count a wait (0/1), waiting since (server ms, or
    /// '' on a first check).
    /// Returns `{"none"}`, `{"corrupt", field}`, `{"moved", HGETALL}`, `{"rejected", reason}`,
    /// `{"failed", kind, reason}` (a refresh of this generation failed while the caller was waiting: the poll sees
    /// the same outcome as the event, so a waiter never retries into the identity provider),
    /// `{"acquired", HGETALL, now_ms}` or `{"held", holder, pttl, now_ms}`.
    static let checkOrAcquire = RedisScript(
        typeGuard + """
            local s = redis.call('HMGET', KEYS[3], 'generation', 'rejected_generation', 'rejected_reason',
              'failed_generation', 'failed_at', 'failed_kind', 'failed_reason')
            if not s[1] then return {'none'} end
            local gen = tonumber(s[1])
            if not gen then return {'corrupt', 'generation'} end
            if gen ~= tonumber(ARGV[3]) then return {'moved', redis.call('HGETALL', KEYS[3])} end
            if s[2] and tonumber(s[2]) == gen then return {'rejected', s[3] or ''} end
            if ARGV[6] ~= '' and s[4] and tonumber(s[4]) == gen and (tonumber(s[5]) or 0) >= tonumber(ARGV[6]) then
              return {'failed', s[6] or 'transient', s[7] or ''}
            end
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
              redis.call('SET', KEYS[2], string.format('%d', now))
              if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[4], 'takeovers', 1) end
              return {'acquired', redis.call('HGETALL', KEYS[3]), now}
            end
            if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[4], 'waits', 1) end
            return {'held', redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1]), now}
            """)

    /// The fenced write: stores generation g+1 only while the stored generation is g and the lock is ours (or has
    /// expired with nobody else holding it), then releases the lock and publishes `refreshed`.
    ///
    /// ARGV: owner, g, access token, refresh token, expires_at ms ('' when unknown), duration ms, channel.
    /// Returns `{"committed", g+1, now_ms}` or `{"fenced", stored generation, holder}`.
    static let commit = RedisScript(
        typeGuard + """
            local holder = redis.call('GET', KEYS[1])
            local gen = tonumber(redis.call('HGET', KEYS[3], 'generation') or '')
            if gen == nil or gen ~= tonumber(ARGV[2]) or (holder and holder ~= ARGV[1]) then
              redis.call('HINCRBY', KEYS[4], 'fenced', 1)
              return {'fenced', gen or -1, holder or ''}
            end
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local new = gen + 1
            redis.call('PUBLISH', ARGV[7], 'refreshed generation=' .. new .. ' by=' .. ARGV[1] .. ' duration_ms=' .. ARGV[6])
            redis.call('HSET', KEYS[3], 'access_token', ARGV[3], 'refresh_token', ARGV[4], 'expires_at', ARGV[5],
              'generation', new, 'refreshed_at', string.format('%d', now), 'refreshed_by', ARGV[1])
            redis.call('HDEL', KEYS[3], 'rejected_generation', 'rejected_reason', 'failed_generation', 'failed_at',
              'failed_kind', 'failed_reason')
            redis.call('HINCRBY', KEYS[4], 'refreshes', 1)
            redis.call('HSET', KEYS[4], 'last_duration_ms', ARGV[6])
            if holder then redis.call('DEL', KEYS[1]) end
            return {'committed', new, now}
            """)

    /// Records a failed refresh while the lock is ours: releases it, counts it, records the failure on the session
    /// (`failed_*`, seen by waiters' polls; `rejected_*` for a rejected refresh token, so nobody presents it again),
    /// and publishes `failed`.
    ///
    /// ARGV: owner, g, kind (`rejected`/`transient`), reason, channel. Returns 1, or 0 when the lock was not ours.
    static let fail = RedisScript(
        typeGuard + """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            redis.call('PUBLISH', ARGV[5], 'failed generation=' .. ARGV[2] .. ' kind=' .. ARGV[3] .. ' by=' .. ARGV[1] .. ' reason=' .. ARGV[4])
            redis.call('DEL', KEYS[1])
            redis.call('HINCRBY', KEYS[4], 'failures', 1)
            if tonumber(redis.call('HGET', KEYS[3], 'generation') or '') == tonumber(ARGV[2]) then
              local t = redis.call('TIME')
              local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
              redis.call('HSET', KEYS[3], 'failed_generation', ARGV[2], 'failed_at', string.format('%d', now),
                'failed_kind', ARGV[3], 'failed_reason', ARGV[4])
              if ARGV[3] == 'rejected' then
                redis.call('HSET', KEYS[3], 'rejected_generation', ARGV[2], 'rejected_reason', ARGV[4])
              end
            end
            return 1
            """)

    /// Owner-checked release (compare-and-delete) that publishes `released`.
    ///
    /// ARGV: owner, channel, reason. Returns 1 when the lock was ours and is gone, 0 otherwise.
    static let release = RedisScript(
        """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('PUBLISH', ARGV[2], 'released by=' .. ARGV[1] .. ' reason=' .. ARGV[3])
        redis.call('DEL', KEYS[1])
        return 1
        """)

    /// Owner-checked extension. ARGV: owner, ttl ms. Returns 1 when extended, 0 when the lock is not ours.
    static let extend = RedisScript(
        """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        """)

    /// Stores a session only when none exists (first writer wins), as generation 1.
    ///
    /// ARGV: access, refresh, expires_at, by, channel. Returns the stored generation and whether this call wrote:
    /// `{generation, 1|0}`.
    static let seed = RedisScript(
        typeGuard + """
            local existing = redis.call('HGET', KEYS[3], 'generation')
            if existing then return {tonumber(existing) or -1, 0} end
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            redis.call('PUBLISH', ARGV[5], 'replaced generation=1 by=' .. ARGV[4])
            redis.call('HSET', KEYS[3], 'access_token', ARGV[1], 'refresh_token', ARGV[2], 'expires_at', ARGV[3],
              'generation', 1, 'refreshed_at', string.format('%d', now), 'refreshed_by', ARGV[4])
            return {1, 1}
            """)

    /// Replaces the session after a fresh login: generation + 1, clears a rejection, publishes `replaced`.
    ///
    /// ARGV: access, refresh, expires_at, by, channel. Returns the new generation.
    static let replace = RedisScript(
        typeGuard + """
            local gen = tonumber(redis.call('HGET', KEYS[3], 'generation') or '0') or 0
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local new = gen + 1
            redis.call('PUBLISH', ARGV[5], 'replaced generation=' .. new .. ' by=' .. ARGV[4])
            redis.call('HSET', KEYS[3], 'access_token', ARGV[1], 'refresh_token', ARGV[2], 'expires_at', ARGV[3],
              'generation', new, 'refreshed_at', string.format('%d', now), 'refreshed_by', ARGV[4])
            redis.call('HDEL', KEYS[3], 'rejected_generation', 'rejected_reason', 'failed_generation', 'failed_at',
              'failed_kind', 'failed_reason')
            return new
            """)

    static let all = [checkOrAcquire, commit, fail, release, extend, seed, replace]
}
