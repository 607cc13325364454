-- book: mark seats booked for one booking, drop their holds, append `book`.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id whose holds the seats may be (or '' for none)
--   ARGV[3] booking reference (recorded per seat in the refs hash, KEYS[9])
--   ARGV[4] 'strict' | 'force'
--   ARGV[5..] seat ids
-- Returns {'ok', now, offset or '', {seats newly booked}}
--      or {'seats_unavailable', now, {seats}}.
-- strict: every seat must be held by the holder or already booked by this
-- booking. force: PostgreSQL already decided these seats are this booking's
-- (its unique index arbitrates), so any hold on them is dropped; only a seat
-- booked by another booking refuses. Booking twice changes nothing.
-- A blocked seat booked (sold at the counter, force) is no longer blocked.

local holder, ref, mode = ARGV[2], ARGV[3], ARGV[4]
local seats = {}
for i = 5, #ARGV do seats[#seats + 1] = ARGV[i] end

local refused, fresh = {}, {}
for _, seat in ipairs(seats) do
  if redis.call('SISMEMBER', booked_key, seat) == 1 then
    if redis.call('HGET', refs_key, seat) ~= ref then refused[#refused + 1] = seat end
  elseif mode == 'force' or redis.call('HGET', held_key, seat) == holder then
    fresh[#fresh + 1] = seat
  else
    refused[#refused + 1] = seat
  end
end
if #refused > 0 then return {'seats_unavailable', now, refused} end
if #fresh == 0 then return {'ok', now, '', {}} end

drop_holds(fresh)
for _, seat in ipairs(fresh) do redis.call('HSET', refs_key, seat, ref) end
redis.call('ZREM', exp_key, unpack(fresh))
redis.call('SADD', booked_key, unpack(fresh))
redis.call('SREM', blocked_key, unpack(fresh))
local offset = append('book', fresh)
return {'ok', now, offset, fresh}
