-- cancel: free seats of one booking, booked or still held, and append why.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id whose holds on the seats are dropped (or '')
--   ARGV[3] booking reference, or '' for "whoever booked it" (reconciliation)
--   ARGV[4] event kind to append: 'cancel' (a sale undone) or 'release'
--   ARGV[5..] seat ids
-- Returns {'ok', now, offset or '', {seats freed}}.
-- Seats booked by another booking, or held by someone else, are left alone:
-- they are no longer this booking's to free. Idempotent.

local holder, ref, kind = ARGV[2], ARGV[3], ARGV[4]
local freed, unheld = {}, {}
for i = 5, #ARGV do
  local seat = ARGV[i]
  if redis.call('SISMEMBER', booked_key, seat) == 1 then
    if ref == '' or redis.call('HGET', refs_key, seat) == ref then
      redis.call('SREM', booked_key, seat)
      redis.call('HDEL', refs_key, seat)
      freed[#freed + 1] = seat
    end
  elseif holder ~= '' and redis.call('HGET', held_key, seat) == holder then
    unheld[#unheld + 1] = seat
    freed[#freed + 1] = seat
  end
end
if #unheld > 0 then
  drop_holds(unheld)
  redis.call('ZREM', exp_key, unpack(unheld))
end
if #freed == 0 then return {'ok', now, '', {}} end
local offset = append(kind, freed)
return {'ok', now, offset, freed}
