-- move: hand every seat one holder holds in the showtime to another holder.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id giving the holds (a guest who just signed in)
--   ARGV[3] holder id taking them (the account)
-- Returns {'ok', now, {seats moved}}.
-- Each seat keeps its deadline (the expiry set is per seat, not per holder).
-- Nothing is appended to the stream: a seat held stays held, and events do
-- not name holders, so no one's view changes; the new holder's clients see
-- the seats as theirs in their next snapshot. The per-holder seat limit is
-- not applied: the seats were taken within it, and refusing some would drop
-- holds the person is in the middle of buying. The giver's lapsed seats go
-- along too, so checkout can still tell the taker "your hold expired" rather
-- than "nothing held". The giver's run of holds goes along as well: the taker's
-- run is the earlier of the two, so signing in never lengthens a hold's
-- limit. Idempotent: a second run finds nothing left to move.

local from, to = ARGV[2], ARGV[3]
if from == to then return {'ok', now, {}} end

local taker_held = #split(redis.call('HGET', mine_key, to)) > 0
local moved = {}
for _, seat in ipairs(split(redis.call('HGET', mine_key, from))) do
  if redis.call('HGET', held_key, seat) == from then
    redis.call('HSET', held_key, seat, to)
    moved[#moved + 1] = seat
  end
end
redis.call('HDEL', mine_key, from)
local from_began = tonumber(redis.call('HGET', run_key, from))
redis.call('HDEL', run_key, from)

local lapsed = lapsed_of(from)
if #lapsed > 0 then
  set_lapsed(to, with(lapsed_of(to), lapsed), now)
end
set_lapsed(from, {})
if #moved == 0 then return {'ok', now, moved} end
-- A seat held (now by the taker) has not lapsed for it.
unlapse(to, moved)
local to_began = taker_held and tonumber(redis.call('HGET', run_key, to)) or nil
local began = math.min(from_began or now, to_began or from_began or now)
redis.call('HSET', run_key, to, began)
local left = redis.call('PTTL', held_key)  -- the moved holds' keys' life
if left > 0 then keep_until(run_key, now + left) end
put_list(mine_key, to, with(split(redis.call('HGET', mine_key, to)), moved))
return {'ok', now, moved}
