-- move: hand every seat one holder holds in the showtime to another holder.
--   KEYS, ARGV[1..3]  see _prelude.lua
--   ARGV[4] holder id giving the holds (a guest who just signed in)
--   ARGV[5] holder id taking them (the account)
-- Returns {'ok', now, {seats moved}}.
-- Each seat keeps its deadline (the expiry set is per seat, not per holder)
-- and its key's TTL. Nothing is appended to the stream: a seat held stays
-- held, and events do not name holders, so no one's view changes; the new
-- holder's clients see the seats as theirs in their next snapshot. The
-- per-holder seat limit is not applied: the seats were taken within it, and
-- refusing some would drop holds the person is in the middle of buying.
-- The giver's lapsed set (holds that expired) goes along too, so checkout
-- can still tell the taker "your hold expired" rather than "nothing held".
-- Idempotent: a second run finds nothing left to move.

local from, to = ARGV[4], ARGV[5]
local from_key, to_key = mine_prefix .. from, mine_prefix .. to
local moved = {}
if from ~= to then
  for _, seat in ipairs(redis.call('SMEMBERS', from_key)) do
    local key = seat_prefix .. seat
    if redis.call('GET', key) == from then
      redis.call('SET', key, to, 'KEEPTTL')
      moved[#moved + 1] = seat
    end
  end
end

local from_lapsed, to_lapsed = lapsed_key(from), lapsed_key(to)
local lapsed = {}
if from ~= to then lapsed = redis.call('SMEMBERS', from_lapsed) end
if #lapsed > 0 then
  redis.call('SADD', to_lapsed, unpack(lapsed))
  redis.call('DEL', from_lapsed)
  redis.call('PEXPIRE', to_lapsed, LAPSED_KEEP_MS)
end
if #moved == 0 then return {'ok', now, moved} end
-- A seat held (now by the taker) has not lapsed for it.
redis.call('SREM', to_lapsed, unpack(moved))

-- The taker's set must last as long as the longest hold it now names.
local from_ttl = redis.call('PTTL', from_key)
redis.call('SADD', to_key, unpack(moved))
redis.call('DEL', from_key)
if from_ttl > 0 and redis.call('PTTL', to_key) < from_ttl then
  redis.call('PEXPIRE', to_key, from_ttl)
end
return {'ok', now, moved}
