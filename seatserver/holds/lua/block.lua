-- block: keep seats off online sale (house seats, press, a broken seat).
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] 'strict' | 'force'
--   ARGV[3..] seat ids (validated against the layout, no duplicates)
-- Returns {'ok', now, offset or '', {seats newly blocked}}
--      or {'seats_unavailable', now, {seats held or booked}}.
-- strict (an admin blocking): every seat must be free or blocked already;
-- a held or booked seat refuses the whole request, naming it, and nothing
-- changes. force (reconciliation from PostgreSQL, the record): holds on the
-- seats are dropped (`release`) and only booked seats are left alone.
-- Blocking a blocked seat changes nothing, so running it twice appends
-- nothing. The event `block` leaves its seats in the state "blocked".

local mode = ARGV[2]
local seats = {}
for i = 3, #ARGV do seats[#seats + 1] = ARGV[i] end

local refused, fresh, held = {}, {}, {}
local booked = redis.call('SMISMEMBER', booked_key, unpack(seats))
local blocked = redis.call('SMISMEMBER', blocked_key, unpack(seats))
local holders = redis.call('HMGET', held_key, unpack(seats))
for i, seat in ipairs(seats) do
  if booked[i] == 1 then
    if mode ~= 'force' then refused[#refused + 1] = seat end
  elseif blocked[i] ~= 1 then
    if holders[i] then
      if mode == 'force' then held[#held + 1] = seat else refused[#refused + 1] = seat end
    end
    fresh[#fresh + 1] = seat
  end
end
if #refused > 0 then return {'seats_unavailable', now, refused} end
if #fresh == 0 then return {'ok', now, '', {}} end

if #held > 0 then
  drop_holds(held)
  redis.call('ZREM', exp_key, unpack(held))
  append('release', held)
end
redis.call('SADD', blocked_key, unpack(fresh))
local offset = append('block', fresh)
return {'ok', now, offset, fresh}
