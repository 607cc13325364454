-- join: put a holder in the waiting room, or tell it where it is.
--   ARGV[1] holder id
-- Returns {'open', now} (no waiting room: hold away), or {state, now,
-- value, waiting} with place_of's state and value and how many wait in all.
-- A holder keeps its place (the pre-queue's, the queue's, its admission):
-- joining again, from another socket of the session, changes nothing.
-- Before the on-sale time arrivals go to the pre-queue, shuffled at the
-- opening; from then, to the back of the queue in arrival order, even
-- while the shuffle is still to come (the pre-queue goes ahead of them).
local holder = ARGV[1]
local sale = redis.call('HMGET', sale_key, 'on', 'open_at', 'opened')
if sale[1] ~= '1' then return {'open', now} end
local opened = sale[3] == '1'
redis.call('ZADD', seen_key, now, holder)
local place = place_of(holder, opened)
if place[1] == 'none' then
  local seq = redis.call('HINCRBY', sale_key, 'seq', 1)
  if opened or now >= number(sale[2]) then
    redis.call('ZADD', queue_key, seq, holder)
  else
    redis.call('ZADD', pre_key, seq, holder)
  end
  place = place_of(holder, opened)
end
-- The keys join writes live as long as the settings (configure.lua set
-- their end; a key that did not exist then got none).
local keep = redis.call('PTTL', sale_key)
if keep > 0 then
  for _, key in ipairs({queue_key, pre_key, seen_key}) do
    if redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, keep) end
  end
end
local waiting = redis.call('ZCARD', queue_key) + redis.call('ZCARD', pre_key)
return {place[1], now, place[2], waiting}
