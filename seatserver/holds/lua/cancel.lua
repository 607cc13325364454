-- cancel: free seats of one booking, booked or still held, and append why.
--   KEYS, ARGV[1..3]  see _prelude.lua
--   ARGV[4] holder id whose holds on the seats are dropped (or '')
--   ARGV[5] booking reference, or '' for "whoever booked it" (reconciliation)
--   ARGV[6] event kind to append: 'cancel' (a sale undone) or 'release'
--   ARGV[7] refs hash key "bref:{st:<id>}"
--   ARGV[8..] seat ids
-- Returns {'ok', now, offset or '', {seats freed}}.
-- Seats booked by another booking, or held by someone else, are left alone:
-- they are no longer this booking's to free. Idempotent.

local holder, ref, kind, refs_key = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local freed = {}
for i = 8, #ARGV do
  local seat = ARGV[i]
  local key = seat_prefix .. seat
  if redis.call('SISMEMBER', booked_key, seat) == 1 then
    if ref == '' or redis.call('HGET', refs_key, seat) == ref then
      redis.call('SREM', booked_key, seat)
      redis.call('HDEL', refs_key, seat)
      freed[#freed + 1] = seat
    end
  elseif holder ~= '' and redis.call('GET', key) == holder then
    redis.call('DEL', key)
    redis.call('ZREM', exp_key, seat)
    redis.call('SREM', mine_prefix .. holder, seat)
    freed[#freed + 1] = seat
  end
end
if #freed == 0 then return {'ok', now, '', {}} end
local offset = append(kind, freed)
return {'ok', now, offset, freed}
