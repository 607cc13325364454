-- unblock: put blocked seats back on online sale.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2..] seat ids
-- Returns {'ok', now, offset or '', {seats unblocked}}. A seat not blocked is
-- left as it is (unblocking twice appends nothing). The event `unblock`
-- leaves its seats free.

local seats = {}
for i = 2, #ARGV do seats[#seats + 1] = ARGV[i] end
local gone = {}
for i, flag in ipairs(redis.call('SMISMEMBER', blocked_key, unpack(seats))) do
  if flag == 1 then gone[#gone + 1] = seats[i] end
end
if #gone == 0 then return {'ok', now, '', {}} end
redis.call('SREM', blocked_key, unpack(gone))
local offset = append('unblock', gone)
return {'ok', now, offset, gone}
