-- reserve: hold seats for a pending booking's buyer until its payment deadline,
-- whoever holds them now. Reconciliation runs it after Redis lost its data.
--   KEYS, ARGV[1..3]  see _prelude.lua
--   ARGV[4] holder id (the buyer)
--   ARGV[5] deadline (ms since the epoch: the booking's hold_deadline)
--   ARGV[6] backstop (ms) the seat key outlives its deadline by
--   ARGV[7..] seat ids
-- Returns {'ok', now, offset or '', {seats changed}, {seats left alone: booked}}.
-- PostgreSQL's unique index gave these seats to the pending booking, so
-- another holder's hold on one of them is dropped (`release`, then `hold`).
-- A booked seat is left alone: a capture got there first. A seat the holder
-- already holds until the deadline changes nothing, so running it twice
-- appends nothing. A deadline already past reserves nothing: the booking is
-- about to expire and its seats are free.

local holder, deadline, backstop = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local seats = {}
for i = 7, #ARGV do seats[#seats + 1] = ARGV[i] end
if deadline <= now then return {'ok', now, '', {}, {}} end

local booked, taken, changed = {}, {}, {}
for _, seat in ipairs(seats) do
  if redis.call('SISMEMBER', booked_key, seat) == 1 then
    booked[#booked + 1] = seat
  else
    local current = redis.call('GET', seat_prefix .. seat)
    if current ~= holder then
      if current then
        drop_hold(seat)
        taken[#taken + 1] = seat
      end
      changed[#changed + 1] = seat
    elseif tonumber(redis.call('ZSCORE', exp_key, seat)) ~= deadline then
      changed[#changed + 1] = seat
    end
  end
end
if #changed == 0 then return {'ok', now, '', {}, booked} end

local ttl = deadline - now + backstop
local mine_key = mine_prefix .. holder
for _, seat in ipairs(changed) do
  redis.call('SET', seat_prefix .. seat, holder, 'PX', ttl)
  redis.call('ZADD', exp_key, deadline, seat)
end
redis.call('SADD', mine_key, unpack(changed))
redis.call('SREM', lapsed_key(holder), unpack(changed))
if redis.call('PTTL', mine_key) < ttl then
  redis.call('PEXPIREAT', mine_key, deadline + backstop)
end
if #taken > 0 then append('release', taken) end
local offset = append('hold', changed, {'e', deadline})
return {'ok', now, offset, changed, booked}
