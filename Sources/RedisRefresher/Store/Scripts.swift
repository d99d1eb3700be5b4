import RedisClient

/// The Lua scripts of the protocol. Each takes the keys `lock, last_refresh_time, session, stats`
/// (``SessionKeys/scriptKeys``) and runs atomically, so every decision and the write it guards are one step.
///
/// Redis does not roll a script back when a command in it fails, so every script first checks everything it will
/// use (key types, numbers it reads, the permission to publish), then writes, and publishes last: a script either
/// changes nothing and says why, or does all of its work, and it never announces a generation it did not store.
/// Only ``SessionStore`` runs them.
enum Scripts {
    /// What every script starts with: refuses keys of the wrong type (someone wrote to `refresher:{S}:*` by hand)
    /// with `{"wrongtype", key, type}`, and defines the helpers.
    ///
    /// - `now_ms()`: the server's clock in ms.
    /// - `incr(field, by)`: a stats counter that never fails: a value that is not an integer is replaced.
    /// - `can_publish(channel)`: whether this user may PUBLISH there (Redis 7's `acl_check_cmd`; assumed on 6).
    static let prelude = """
        local expected = {'string', 'string', 'hash', 'hash'}
        for i = 1, 4 do
          local t = redis.call('TYPE', KEYS[i])['ok']
          if t ~= 'none' and t ~= expected[i] then return {'wrongtype', KEYS[i], t} end
        end
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function incr(field, by)
          local v = redis.call('HGET', KEYS[4], field)
          if v and (#v > 17 or not string.match(v, '^%-?%d+$')) then
            redis.call('HSET', KEYS[4], field, by)
          else
            redis.call('HINCRBY', KEYS[4], field, by)
          end
        end
        local function can_publish(channel)
          if redis.acl_check_cmd then return redis.acl_check_cmd('PUBLISH', channel) end
          return true
        end
        local attempt_fields = {'attempt_generation', 'attempt_by', 'attempt_at', 'attempt_first_at', 'attempt_heartbeat'}
        -- Whether `owner` may take back a free lock on generation `g` (it expired while Redis was away): only while
        -- the session is at g with no outcome recorded for g, and the recorded attempt is its own or there is none.
        local function may_take_back(owner, g)
          local s = redis.call('HMGET', KEYS[3], 'generation', 'attempt_generation', 'attempt_by',
            'rejected_generation', 'unknown_generation', 'failed_generation')
          if tonumber(s[1] or '') ~= g then return false end
          if tonumber(s[4] or '') == g or tonumber(s[5] or '') == g then return false end
          if tonumber(s[2] or '') == g and s[3] then return s[3] == owner end
          return tonumber(s[6] or '') ~= g
        end
        local outcome_fields = {'rejected_generation', 'rejected_reason', 'unknown_generation', 'unknown_reason',
          'failed_generation', 'failed_at', 'failed_kind', 'failed_reason'}

        """

    /// Checks the stored generation and lineage and, while they are still the caller's, tries the lock.
    ///
    /// ARGV: 1 acquisition id, 2 ttl ms, 3 caller generation, 4 caller lineage ('' matches any), 5 takeover (0/1),
    /// 6 count a wait (0/1), 7 waiting since (server ms, or '' on a first check), 8 reuse grace ms, 9 attempt
    /// horizon ms, 10 channel.
    ///
    /// Returns `{"none"}`, `{"corrupt", field}`, `{"moved", HGETALL}`, `{"rejected", reason}`, `{"unknown", reason}`,
    /// `{"failed", kind, reason}` (a not-processed failure of this generation recorded while the caller waited),
    /// `{"acquired", HGETALL, now_ms, grace_elapsed_ms}` (`grace_elapsed_ms` is -1 unless the refresh token was
    /// presented before, by an attempt whose outcome is not recorded: then the ms since that first presentation;
    /// see ``present``),
    /// `{"held", holder, pttl, now_ms}`, or `{"noperm", "PUBLISH"}`.
    ///
    /// The lock is re-entrant for its acquisition id, so a check whose reply was lost and is sent again recognises
    /// its own lock. A free lock with an unrecorded attempt of another acquisition on this generation (its holder
    /// crashed, was stopped, or lost Redis while committing) is taken again only inside the reuse grace; until the
    /// attempt horizon has passed it counts as held by that holder (it may still store its result); after it, the
    /// outcome is recorded as unknown.
    static let checkOrAcquire = RedisScript(
        prelude + """
            local s = redis.call('HMGET', KEYS[3], 'generation', 'lineage', 'rejected_generation', 'rejected_reason',
              'unknown_generation', 'unknown_reason', 'failed_generation', 'failed_at', 'failed_kind', 'failed_reason',
              'attempt_generation', 'attempt_by', 'attempt_at', 'attempt_first_at')
            if not s[1] then return {'none'} end
            local gen = tonumber(s[1])
            if not gen then return {'corrupt', 'generation'} end
            if gen ~= tonumber(ARGV[3]) or (ARGV[4] ~= '' and (s[2] or '') ~= ARGV[4]) then
              return {'moved', redis.call('HGETALL', KEYS[3])}
            end
            if s[3] and tonumber(s[3]) == gen then return {'rejected', s[4] or ''} end
            if s[5] and tonumber(s[5]) == gen then return {'unknown', s[6] or ''} end
            if ARGV[7] ~= '' and s[7] and tonumber(s[7]) == gen and (tonumber(s[8]) or 0) >= tonumber(ARGV[7]) then
              return {'failed', s[9] or 'not_processed', s[10] or ''}
            end
            local now = now_ms()
            local holder = redis.call('GET', KEYS[1])
            -- An attempt on this generation whose outcome is not recorded: its token may have been used.
            local prior = s[11] and tonumber(s[11]) == gen and s[12]
            local first = tonumber(s[14]) or tonumber(s[13]) or 0
            if holder == ARGV[1] then
              local elapsed = -1
              if prior then elapsed = now - first end
              return {'acquired', redis.call('HGETALL', KEYS[3]), now, elapsed}
            end
            if holder then
              if ARGV[6] == '1' then incr('waits', 1) end
              return {'held', holder, redis.call('PTTL', KEYS[1]), now}
            end
            local elapsed = -1
            if prior then
              local grace = tonumber(ARGV[8]) or 0
              -- The same margin as the holder's: the request must reach the provider before the grace ends.
              if grace > 0 and now - first < grace - math.min(math.floor(grace / 4), 1000) then
                elapsed = now - first
              else
                local since = now - (tonumber(s[13]) or 0)
                local horizon = tonumber(ARGV[9]) or 0
                if since < horizon then
                  if ARGV[6] == '1' then incr('waits', 1) end
                  return {'held', s[12], horizon - since, now}
                end
                if not can_publish(ARGV[10]) then return {'noperm', 'PUBLISH'} end
                local reason = 'the refresh by ' .. s[12] .. ' ended without a recorded outcome'
                redis.call('HSET', KEYS[3], 'unknown_generation', gen, 'unknown_reason', reason, 'failed_generation', gen,
                  'failed_at', string.format('%d', now), 'failed_kind', 'unknown', 'failed_reason', reason)
                incr('failures', 1)
                redis.call('PUBLISH', ARGV[10], 'failed generation=' .. gen .. ' kind=unknown by=' .. s[12] .. ' reason=' .. reason)
                return {'unknown', reason}
              end
            end
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            redis.call('SET', KEYS[2], string.format('%d', now))
            if ARGV[5] == '1' then incr('takeovers', 1) end
            return {'acquired', redis.call('HGETALL', KEYS[3]), now, elapsed}
            """
    )

    /// The fenced write: stores generation g+1 only while the stored generation is g, the lineage is the caller's
    /// and the lock is ours (or expired with nobody else holding it); then releases the lock and publishes
    /// `refreshed`.
    ///
    /// ARGV: 1 acquisition id, 2 g, 3 access token, 4 refresh token, 5 expires_at ms ('' when unknown), 6 duration
    /// ms, 7 channel, 8 lineage ('' matches any).
    /// A session that is gone altogether (Redis lost its data) is written anew with these tokens as g+1: they are
    /// the only valid ones. Returns `{"committed", g+1, now_ms}`, `{"fenced", stored generation, holder, moved (0/1)}` or
    /// `{"noperm", "PUBLISH"}`; `moved` is 1 when the session went on without this result (newer generation, other
    /// lineage, or none at all).
    static let commit = RedisScript(
        prelude + """
            if not can_publish(ARGV[7]) then return {'noperm', 'PUBLISH'} end
            local holder = redis.call('GET', KEYS[1])
            local s = redis.call('HMGET', KEYS[3], 'generation', 'lineage')
            -- A session that is gone (Redis lost its data) did not move on: the new tokens are stored in its place.
            local gone = not s[1]
            local gen = tonumber(s[1] or '')
            local moved = not gone and (gen == nil or gen ~= tonumber(ARGV[2])
              or (ARGV[8] ~= '' and (s[2] or '') ~= ARGV[8]))
            if moved or (holder and holder ~= ARGV[1]) then
              incr('fenced', 1)
              return {'fenced', gen or -1, holder or '', moved and 1 or 0}
            end
            local now = now_ms()
            local new = tonumber(ARGV[2]) + 1
            if gone and ARGV[8] ~= '' then redis.call('HSET', KEYS[3], 'lineage', ARGV[8]) end
            redis.call('HSET', KEYS[3], 'access_token', ARGV[3], 'refresh_token', ARGV[4], 'expires_at', ARGV[5],
              'generation', new, 'refreshed_at', string.format('%d', now), 'refreshed_by', ARGV[1])
            redis.call('HDEL', KEYS[3], unpack(outcome_fields))
            redis.call('HDEL', KEYS[3], unpack(attempt_fields))
            incr('refreshes', 1)
            redis.call('HSET', KEYS[4], 'last_duration_ms', ARGV[6])
            if holder then redis.call('DEL', KEYS[1]) end
            redis.call('PUBLISH', ARGV[7], 'refreshed generation=' .. new .. ' by=' .. ARGV[1] .. ' duration_ms=' .. ARGV[6])
            return {'committed', new, now}
            """
    )

    /// Records a failed refresh and publishes `failed`; releases the lock when it is ours.
    ///
    /// A rejected outcome is recorded whenever the session is still at g (even after the lock was lost: nobody may
    /// present that refresh token again); an unknown one unless another holder has the lock (it took over inside
    /// the reuse grace and may still succeed); a not-processed one only while the lock is ours. Recording ends this
    /// holder's attempt (its fields go). When nothing is recorded but the lock is ours, it is released.
    ///
    /// ARGV: 1 acquisition id, 2 g, 3 kind (`rejected`, `unknown`, `not_processed`), 4 reason, 5 channel,
    /// 6 lineage ('' matches any). Returns 1 when recorded, 0 when there was nothing to record, or
    /// `{"noperm", "PUBLISH"}`.
    static let fail = RedisScript(
        prelude + """
            if not can_publish(ARGV[5]) then return {'noperm', 'PUBLISH'} end
            local holder = redis.call('GET', KEYS[1])
            local s = redis.call('HMGET', KEYS[3], 'generation', 'lineage', 'attempt_by')
            local same = s[1] ~= false and tonumber(s[1]) == tonumber(ARGV[2]) and (ARGV[6] == '' or (s[2] or '') == ARGV[6])
            local ours = holder == ARGV[1]
            -- A rejection is recorded even after the lock was lost; an unknown outcome only while nobody else holds
            -- the lock (a holder that took over inside the reuse grace may still succeed); not processed by the
            -- lock's owner, or after its lock expired while its own attempt is the recorded one.
            local record = same and (ARGV[3] == 'rejected' or (ARGV[3] == 'unknown' and (ours or not holder))
              or (ARGV[3] == 'not_processed' and (ours or (not holder and s[3] == ARGV[1]))))
            if not record then
              if not ours then return 0 end
              redis.call('DEL', KEYS[1])
              redis.call('PUBLISH', ARGV[5], 'released by=' .. ARGV[1] .. ' reason=superseded')
              return 0
            end
            local now = string.format('%d', now_ms())
            redis.call('HSET', KEYS[3], 'failed_generation', ARGV[2], 'failed_at', now, 'failed_kind', ARGV[3],
              'failed_reason', ARGV[4])
            if ARGV[3] == 'rejected' then
              redis.call('HSET', KEYS[3], 'rejected_generation', ARGV[2], 'rejected_reason', ARGV[4])
            elseif ARGV[3] == 'unknown' then
              redis.call('HSET', KEYS[3], 'unknown_generation', ARGV[2], 'unknown_reason', ARGV[4])
            end
            -- The outcome is recorded (or the token is still good): this holder's attempt is over.
            if s[3] == ARGV[1] then redis.call('HDEL', KEYS[3], unpack(attempt_fields)) end
            incr('failures', 1)
            if ours then redis.call('DEL', KEYS[1]) end
            redis.call('PUBLISH', ARGV[5], 'failed generation=' .. ARGV[2] .. ' kind=' .. ARGV[3] .. ' by=' .. ARGV[1] .. ' reason=' .. ARGV[4])
            return 1
            """
    )

    /// Records, just before the holder presents the refresh token, that it does so: the attempt fields of the session
    /// (`attempt_generation`, `attempt_by`, `attempt_at`, `attempt_first_at` kept from an earlier unrecorded
    /// attempt on this generation, `attempt_heartbeat`). Until an outcome is recorded, nobody else presents that token
    /// outside the reuse grace.
    ///
    /// ARGV: 1 owner, 2 g, 3 ttl ms. Returns 1 when recorded (the lock is ours, or free and taken back, and the
    /// session still at g), -1 when the token was recorded as rejected or of unknown outcome meanwhile, 0 otherwise.
    static let present = RedisScript(
        prelude + """
            local holder = redis.call('GET', KEYS[1])
            if holder and holder ~= ARGV[1] then return 0 end
            local s = redis.call('HMGET', KEYS[3], 'generation', 'attempt_generation', 'attempt_first_at',
              'rejected_generation', 'unknown_generation')
            local g = tonumber(ARGV[2])
            if tonumber(s[1] or '') ~= g then return 0 end
            -- Someone recorded this token as rejected or of unknown outcome meanwhile: it is not presented again.
            if tonumber(s[4] or '') == g or tonumber(s[5] or '') == g then return -1 end
            if not holder then
              if not may_take_back(ARGV[1], g) then return 0 end
              redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
            end
            local now = string.format('%d', now_ms())
            local first = now
            if s[2] and tonumber(s[2]) == tonumber(ARGV[2]) and tonumber(s[3]) then first = s[3] end
            redis.call('HSET', KEYS[3], 'attempt_generation', ARGV[2], 'attempt_by', ARGV[1], 'attempt_at', now,
              'attempt_first_at', first, 'attempt_heartbeat', now)
            return 1
            """
    )

    /// Owner-checked release (compare-and-delete) that publishes `released`. An attempt record stays: whoever
    /// presented under this lock (or before it) keeps the token out of everybody else's hands until an outcome is
    /// recorded.
    ///
    /// With a live window (operators), a holder seen alive within it (the lock taken, or its attempt started or
    /// extended) is not released: releasing a live holder lets a second worker present the same refresh token.
    ///
    /// ARGV: 1 owner, 2 channel, 3 reason, 4 live window ms ('' for none). Returns 1 when the lock was ours and is
    /// gone, 0 when it is not `owner`'s, -1 when the holder is alive, or `{"noperm", "PUBLISH"}`.
    static let release = RedisScript(
        prelude + """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            if ARGV[4] and ARGV[4] ~= '' then
              local seen = tonumber(redis.call('GET', KEYS[2]) or '') or 0
              local a = redis.call('HMGET', KEYS[3], 'attempt_by', 'attempt_at', 'attempt_heartbeat')
              if a[1] == ARGV[1] then seen = math.max(seen, tonumber(a[2]) or 0, tonumber(a[3]) or 0) end
              if now_ms() - seen <= tonumber(ARGV[4]) then return -1 end
            end
            if not can_publish(ARGV[2]) then return {'noperm', 'PUBLISH'} end
            redis.call('DEL', KEYS[1])
            redis.call('PUBLISH', ARGV[2], 'released by=' .. ARGV[1] .. ' reason=' .. ARGV[3])
            return 1
            """
    )

    /// Gives back what an acquisition took without presenting anything (replicas did not acknowledge it, or shutdown):
    /// deletes the lock when it is `owner`'s, and `owner`'s attempt record when it is the first on its generation
    /// (nothing was presented on that generation before it) and no outcome is recorded for that generation, whoever
    /// holds the lock now (after a failover the record may be on a new primary whose lock expired). Publishes
    /// `released` when the lock was ours.
    ///
    /// ARGV: 1 owner, 2 channel, 3 reason. Returns 1 when the lock was ours, 0 otherwise, or `{"noperm", "PUBLISH"}`.
    static let withdraw = RedisScript(
        prelude + """
            if not can_publish(ARGV[2]) then return {'noperm', 'PUBLISH'} end
            local a = redis.call('HMGET', KEYS[3], 'attempt_generation', 'attempt_by', 'attempt_at', 'attempt_first_at',
              'rejected_generation', 'unknown_generation')
            local g = tonumber(a[1] or '')
            if a[2] == ARGV[1] and a[3] == a[4] and tonumber(a[5] or '') ~= g and tonumber(a[6] or '') ~= g then
              redis.call('HDEL', KEYS[3], unpack(attempt_fields))
            end
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            redis.call('DEL', KEYS[1])
            redis.call('PUBLISH', ARGV[2], 'released by=' .. ARGV[1] .. ' reason=' .. ARGV[3])
            return 1
            """
    )

    /// Whether the session `owner` stored as generation g+1 is still there, for a holder waiting for replicas to
    /// acknowledge it; when it is, rewrites one field with its own value, so that a `WAIT` after this script
    /// measures the session's replication even on a new connection.
    ///
    /// ARGV: 1 owner, 2 g+1, 3 lineage. Returns 1 when the session is `owner`'s g+1, 0 when it is at g of that
    /// lineage or gone (a failover lost the commit: store it again), -1 when it went on otherwise.
    static let confirm = RedisScript(
        prelude + """
            local s = redis.call('HMGET', KEYS[3], 'generation', 'lineage', 'refreshed_by')
            if not s[1] then return 0 end
            local gen = tonumber(s[1])
            if ARGV[3] ~= '' and (s[2] or '') ~= ARGV[3] then return -1 end
            if gen == tonumber(ARGV[2]) and s[3] == ARGV[1] then
              redis.call('HSET', KEYS[3], 'refreshed_by', ARGV[1])
              return 1
            end
            if gen == tonumber(ARGV[2]) - 1 then return 0 end
            return -1
            """
    )

    /// Owner-checked extension, recording the holder's heartbeat. A lock that expired (Redis was unreachable) is
    /// taken back under the rule of ``present`` (the session still at g, no outcome recorded for it, the recorded
    /// attempt this holder's own or none).
    ///
    /// ARGV: 1 owner, 2 ttl ms, 3 g. Returns 1 when extended, 2 when taken back, 0 when the lock is someone else's
    /// or the session moved on.
    static let extend = RedisScript(
        prelude + """
            local holder = redis.call('GET', KEYS[1])
            if holder and holder ~= ARGV[1] then return 0 end
            if not holder and not may_take_back(ARGV[1], tonumber(ARGV[3])) then return 0 end
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            if redis.call('HGET', KEYS[3], 'attempt_by') == ARGV[1] then
              redis.call('HSET', KEYS[3], 'attempt_heartbeat', string.format('%d', now_ms()))
            end
            if holder then return 1 end
            return 2
            """
    )

    /// Writes a newer session of the same lineage back over an older stored generation (Redis went backwards), and
    /// publishes `refreshed` for it.
    ///
    /// ARGV: 1 stored generation expected, 2 lineage, 3 access, 4 refresh, 5 expires_at, 6 generation, 7 by,
    /// 8 channel. Returns 1 when written, 0 when the stored session is not the expected one.
    static let restore = RedisScript(
        prelude + """
            if not can_publish(ARGV[8]) then return {'noperm', 'PUBLISH'} end
            local s = redis.call('HMGET', KEYS[3], 'generation', 'lineage')
            if tonumber(s[1] or '') ~= tonumber(ARGV[1]) or (s[2] or '') ~= ARGV[2] then return 0 end
            if tonumber(ARGV[6]) <= tonumber(ARGV[1]) then return 0 end
            redis.call('HSET', KEYS[3], 'access_token', ARGV[3], 'refresh_token', ARGV[4], 'expires_at', ARGV[5],
              'generation', ARGV[6], 'refreshed_at', string.format('%d', now_ms()), 'refreshed_by', ARGV[7])
            redis.call('HDEL', KEYS[3], unpack(outcome_fields))
            redis.call('HDEL', KEYS[3], unpack(attempt_fields))
            redis.call('PUBLISH', ARGV[8], 'refreshed generation=' .. ARGV[6] .. ' by=' .. ARGV[7] .. ' duration_ms=0')
            return 1
            """
    )

    /// Stores a session only when none exists (first writer wins), as generation 1 of a new lineage.
    ///
    /// ARGV: access, refresh, expires_at, by, channel, lineage. Returns `{generation, 1|0}` (whether this call
    /// wrote) or `{"noperm", "PUBLISH"}`.
    static let seed = RedisScript(
        prelude + """
            local existing = redis.call('HGET', KEYS[3], 'generation')
            if existing then return {tonumber(existing) or -1, 0} end
            if not can_publish(ARGV[5]) then return {'noperm', 'PUBLISH'} end
            local now = string.format('%d', now_ms())
            redis.call('HSET', KEYS[3], 'access_token', ARGV[1], 'refresh_token', ARGV[2], 'expires_at', ARGV[3],
              'generation', 1, 'refreshed_at', now, 'refreshed_by', ARGV[4], 'lineage', ARGV[6])
            redis.call('PUBLISH', ARGV[5], 'replaced generation=1 by=' .. ARGV[4])
            return {1, 1}
            """
    )

    /// Replaces the session after a fresh login: generation + 1 of a new lineage; clears a rejected or unknown
    /// outcome and any attempt; publishes `replaced`.
    ///
    /// ARGV: access, refresh, expires_at, by, channel, lineage. Returns the new generation or `{"noperm", "PUBLISH"}`.
    static let replace = RedisScript(
        prelude + """
            if not can_publish(ARGV[5]) then return {'noperm', 'PUBLISH'} end
            local gen = tonumber(redis.call('HGET', KEYS[3], 'generation') or '0') or 0
            local now = string.format('%d', now_ms())
            local new = gen + 1
            redis.call('HSET', KEYS[3], 'access_token', ARGV[1], 'refresh_token', ARGV[2], 'expires_at', ARGV[3],
              'generation', new, 'refreshed_at', now, 'refreshed_by', ARGV[4], 'lineage', ARGV[6])
            redis.call('HDEL', KEYS[3], unpack(outcome_fields))
            redis.call('HDEL', KEYS[3], unpack(attempt_fields))
            redis.call('PUBLISH', ARGV[5], 'replaced generation=' .. new .. ' by=' .. ARGV[4])
            return new
            """
    )

    static let all = [
        checkOrAcquire, present, commit, fail, release, extend, restore, seed, replace, withdraw, confirm,
    ]
}

/// The scripts in the form one server kind needs: on a single server (or behind Sentinel) they announce events with
/// `PUBLISH`; on a Redis Cluster with `SPUBLISH`, whose channel (sharing the session's hash tag) lives in the
/// session's slot, so an event reaches only the subscribers of that shard instead of every node of the cluster.
struct ScriptSet: Sendable {
    let checkOrAcquire: RedisScript
    let present: RedisScript
    let commit: RedisScript
    let fail: RedisScript
    let release: RedisScript
    let extend: RedisScript
    let restore: RedisScript
    let seed: RedisScript
    let replace: RedisScript
    let withdraw: RedisScript
    let confirm: RedisScript

    private init(_ form: (RedisScript) -> RedisScript) {
        checkOrAcquire = form(Scripts.checkOrAcquire)
        present = form(Scripts.present)
        commit = form(Scripts.commit)
        fail = form(Scripts.fail)
        release = form(Scripts.release)
        extend = form(Scripts.extend)
        restore = form(Scripts.restore)
        seed = form(Scripts.seed)
        replace = form(Scripts.replace)
        withdraw = form(Scripts.withdraw)
        confirm = form(Scripts.confirm)
    }

    /// Every script, e.g. to load them.
    var all: [RedisScript] {
        [checkOrAcquire, present, commit, fail, release, extend, restore, seed, replace, withdraw, confirm]
    }

    /// With `PUBLISH`.
    static let classic = ScriptSet { $0 }
    /// With `SPUBLISH` (and its ACL check) in place of `PUBLISH`. A server without `redis.acl_check_cmd` (before
    /// Redis 7) has no `SPUBLISH` either: the check then says no, so a script refuses before it writes anything
    /// instead of failing after its writes.
    static let sharded = ScriptSet { script in
        RedisScript(
            script.source.replacing("'PUBLISH'", with: "'SPUBLISH'")
                .replacing("'SPUBLISH', channel) end\n  return true", with: "'SPUBLISH', channel) end\n  return false")
        )
    }

    /// The form `connection` needs.
    static func `for`(_ connection: RedisConnection) -> ScriptSet {
        connection.isCluster ? .sharded : .classic
    }
}
