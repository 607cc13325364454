-- reserve: hold seats for a pending booking's buyer until its payment deadline,
-- whoever holds them now. Reconciliation runs it after Redis lost its data.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id (the buyer)
--   ARGV[3] deadline (ms since the epoch: the booking's hold_deadline)
--   ARGV[4] backstop (ms) the showtime's hold keys outlive the deadline by
--   ARGV[5..] seat ids
-- Returns {'ok', now, offset or '', {seats changed}, {seats left alone: booked}}.
-- PostgreSQL's unique index gave these seats to the pending booking, so
-- another holder's hold on one of them is dropped (`release`, then `hold`).
-- A booked seat is left alone: a capture got there first. A seat the holder
-- already holds until the deadline changes nothing, so running it twice
-- appends nothing. A deadline already past reserves nothing: the booking is
-- about to expire and its seats are free.

local holder, deadline, backstop = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local seats = {}
for i = 5, #ARGV do seats[#seats + 1] = ARGV[i] end
if deadline <= now then return {'ok', now, '', {}, {}} end

local booked, taken, changed = {}, {}, {}
for _, seat in ipairs(seats) do
  if redis.call('SISMEMBER', booked_key, seat) == 1 then
    booked[#booked + 1] = seat
  else
    local current = redis.call('HGET', held_key, seat)
    if current ~= holder then
      if current then taken[#taken + 1] = seat end
      changed[#changed + 1] = seat
    elseif tonumber(redis.call('ZSCORE', exp_key, seat)) ~= deadline then
      changed[#changed + 1] = seat
    end
  end
end
if #changed == 0 then return {'ok', now, '', {}, booked} end

drop_holds(taken)
local until_ms = deadline + backstop
for _, seat in ipairs(changed) do
  redis.call('HSET', held_key, seat, holder)
  redis.call('ZADD', exp_key, deadline, seat)
end
put_list(mine_key, holder,
         with(split(redis.call('HGET', mine_key, holder)), changed))
keep_until(held_key, until_ms)
keep_until(mine_key, until_ms)
unlapse(holder, changed)
if #taken > 0 then append('release', taken) end
local offset = append('hold', changed, {'e', deadline, 'h', holder})
return {'ok', now, offset, changed, booked}
