-- release: give back seats the holder holds, all or none.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id
--   ARGV[3..] seat ids
-- Returns {'ok', now, offset, epoch} or {'not_holder', now, {seats}}.
-- A seat whose hold has just expired is no longer the holder's: not_holder.

local holder = ARGV[2]
local seats = {}
for i = 3, #ARGV do seats[#seats + 1] = ARGV[i] end

local refused = {}
local current = redis.call('HMGET', held_key, unpack(seats))
for i, seat in ipairs(seats) do
  if current[i] ~= holder then refused[#refused + 1] = seat end
end
if #refused > 0 then return {'not_holder', now, refused} end

drop_holds(seats, current)
redis.call('ZREM', exp_key, unpack(seats))
local offset = append('release', seats, {'h', holder})
return {'ok', now, offset, stream_epoch()}
