//! The Lua scripts that make each shared decision atomic in Redis, on Redis's clock (`TIME`), so
//! two relays can never both take the last unit of a quota, the same GCRA slot or the last
//! connection. Keys are per account (`smarthost:{account}:...`); every key expires on its own.

use std::sync::LazyLock;

use redis::Script;

/// The server's time in unix ms, first line of every script.
const NOW: &str = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS[1] usage (zset `ms:node:seq:units`, score ms). ARGV: recipients wanted, count mode
/// (`m` messages, `r` recipients), a unique tag, the number of windows, span ms and limit for
/// each window, then pairs of (ms, `tag:units`) this node spent while Redis was away: they are
/// counted first, in the same step, so a unit spent alone is never granted twice.
/// Returns {granted, units, now}; granted 0 when a window is full.
pub static QUOTA_TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{}",
        r#"
local n = tonumber(ARGV[1]); local mode = ARGV[2]; local tag = ARGV[3]; local k = tonumber(ARGV[4])
local longest = 0
for i = 5, 4 + 2 * k, 2 do local s = tonumber(ARGV[i]); if s > longest then longest = s end end
for i = 5 + 2 * k, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i] .. ':' .. ARGV[i + 1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local room = nil
for i = 5, 4 + 2 * k, 2 do
  local span = tonumber(ARGV[i]); local limit = tonumber(ARGV[i + 1]); local used = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - span), '+inf')) do
    used = used + tonumber(string.match(m, ':(%d+)$'))
  end
  local r = limit - used; if r < 0 then r = 0 end
  if room == nil or r < room then room = r end
end
if room == nil then room = n end
local granted = 0
if mode == 'm' then if room >= 1 then granted = n end else granted = math.min(n, room) end
redis.call('PEXPIRE', KEYS[1], longest + 60000)
if granted == 0 then return {0, 0, now} end
local units = granted; if mode == 'm' then units = 1 end
redis.call('ZADD', KEYS[1], now, now .. ':' .. tag .. ':' .. units)
return {granted, units, now}
"#
    ))
});

/// KEYS[1] usage. ARGV: pairs of (ms, `tag:units`) spent while Redis was away, and the longest
/// window. Adds them with their own times (written back once; the tag makes a repeat a no-op).
pub static QUOTA_WRITE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local longest = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i] .. ':' .. ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], longest + 60000)
return 1
"#,
    )
});

/// KEYS[1] gcra (the theoretical arrival time, ms). ARGV[1] emission interval ms. Burst 1, as
/// the local limiter: 0 when admitted now, else ms to wait.
pub static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{}",
        r#"
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then return tat - now end
redis.call('SET', KEYS[1], now + interval, 'PX', interval * 2 + 1000)
return 0
"#
    ))
});

/// KEYS[1] leases (zset id -> expiry ms). ARGV: max, ttl ms, lease id. 0 when granted, else ms
/// until the earliest lease expires.
pub static LEASE_ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{}",
        r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(first[2]) - now
if wait < 1 then wait = 1 end
return wait
"#
    ))
});

/// KEYS[1] leases. ARGV: ttl ms, lease id. Extends a lease still held; 0 when it had expired.
pub static LEASE_RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{}",
        r#"
if redis.call('ZSCORE', KEYS[1], ARGV[2]) == false then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 1
"#
    ))
});

/// KEYS[1] batch hash {n, last_end}, KEYS[2] open tickets (zset id -> expiry). ARGV: size,
/// rest ms, ticket id, ticket ttl ms. 0 when admitted (the ticket is open), else ms to wait.
/// As the local batches: the next batch waits until every transaction of this one ended, then
/// rests from the last end; a quiet spell as long as the rest starts a fresh batch.
pub static BATCH_ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{}",
        r#"
local size = tonumber(ARGV[1]); local rest = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local open = redis.call('ZCARD', KEYS[2])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last_end') or '0')
if open == 0 and n > 0 and now - last >= rest then n = 0 end
if n < size then
  redis.call('HSET', KEYS[1], 'n', n + 1)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], rest + 3600000)
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]) * 2)
  return 0
end
if open > 0 then return 100 end
local wait = last + rest - now
if wait < 1 then wait = 1 end
return wait
"#
    ))
});

/// KEYS[1] batch hash, KEYS[2] open tickets. ARGV[1] ticket id. The transaction ended.
pub static BATCH_END: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}{}",
        r#"
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'last_end', now)
return 1
"#
    ))
});
