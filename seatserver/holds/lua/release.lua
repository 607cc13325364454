-- release: give back seats the holder holds, all or none.
--   KEYS, ARGV[1..3]  see _prelude.lua
--   ARGV[4] holder id
--   ARGV[5..] seat ids
-- Returns {'ok', now, offset, epoch} or {'not_holder', now, {seats}}.
-- A seat whose hold has just expired is no longer the holder's: not_holder.

local holder = ARGV[4]
local seats = {}
for i = 5, #ARGV do seats[#seats + 1] = ARGV[i] end

local refused = {}
for _, seat in ipairs(seats) do
  if redis.call('GET', seat_prefix .. seat) ~= holder then
    refused[#refused + 1] = seat
  end
end
if #refused > 0 then return {'not_holder', now, refused} end

for _, seat in ipairs(seats) do
  redis.call('DEL', seat_prefix .. seat)
end
redis.call('ZREM', exp_key, unpack(seats))
redis.call('SREM', mine_prefix .. holder, unpack(seats))
local offset = append('release', seats)
return {'ok', now, offset, stream_epoch()}
