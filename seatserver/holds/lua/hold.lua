-- hold: take every requested seat for the holder, or none of them.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id
--   ARGV[3] hold ttl (ms)
--   ARGV[4] most seats one holder may hold in this showtime
--   ARGV[5] backstop (ms) the showtime's hold keys outlive the deadline by
--   ARGV[6] most seats held from one client address in this showtime
--           (0: no per-address cap, and no per-address books either)
--   ARGV[7] the client address ('' when the hold carries none)
--   ARGV[8] longest a run of holds may last (ms; 0: no limit, checkout's
--           extension into the payment window)
--   ARGV[9] the geometry version the caller built ('': no seating checks,
--           the showtime's rules need none or the caller is checkout)
--   ARGV[10] '1': the buyer's own hold, which the waiting room gates
--           (admission_refusal); '0': checkout extending holds it has
--   ARGV[11..] seat ids (validated against the layout, no duplicates)
-- Returns {'ok', now, deadline, offset, epoch}
--      or {'seats_unavailable', now, {seats}} | {'too_many_seats', now, {}}
--      or {'seat_blocked', now, {seats}} (blocked seats: house, press,
--         broken; sold only at the counter, never held online)
--      or {'too_many_seats', now, {}, 'address'} (the client address's cap)
--      or {'companion_seat', now, {seats}} (companions without their space)
--      or {'would_orphan', now, {seats left alone}}
--      or {'not_admitted', now, {}, opens_at} (see admission_refusal)
--      or {'geometry', now} (the stored geometry is not ARGV[9]'s: write it
--         and ask again).
-- Re-holding one's own seat succeeds and moves its deadline (later or earlier).
-- The deadline is never past the end of the holder's run of holds (its
-- beginning plus ARGV[8], see run_began): re-holding, or adding seats, does
-- not make holds last longer than extending them would.
-- A seat held again is no longer in the holder's lapsed list. Per-address
-- cap: see _take.lua; seating rules: see _seating.lua.

local holder = ARGV[2]
local hold = {ttl = tonumber(ARGV[3]), backstop = tonumber(ARGV[5]),
              address_cap = tonumber(ARGV[6]), address = ARGV[7], max = tonumber(ARGV[8])}
local max_seats = tonumber(ARGV[4])
local version = ARGV[9]
local seats = {}
for i = 11, #ARGV do seats[#seats + 1] = ARGV[i] end

if ARGV[10] == '1' then
  local refusal = admission_refusal(holder)
  if refusal then return refusal end
end

local mine = mine_of(holder)

-- Blocked seats first: whoever asks, and whatever else is wrong, a house
-- seat is never held online.
if #seats > 0 then
  local blocked = {}
  for i, flag in ipairs(redis.call('SMISMEMBER', blocked_key, unpack(seats))) do
    if flag == 1 then blocked[#blocked + 1] = seats[i] end
  end
  if #blocked > 0 then return {'seat_blocked', now, blocked} end
end

local refused, fresh = {}, {}
for _, seat in ipairs(seats) do
  if redis.call('SISMEMBER', booked_key, seat) == 1 then
    refused[#refused + 1] = seat
  else
    local current = redis.call('HGET', held_key, seat)
    if not current then
      fresh[#fresh + 1] = seat
    elseif current ~= holder then
      refused[#refused + 1] = seat
    end
  end
end
if #refused > 0 then return {'seats_unavailable', now, refused} end
if #mine + #fresh > max_seats then return {'too_many_seats', now, {}} end

if version ~= '' and #fresh > 0 then
  local rules = geometry_rules(version)
  if not rules then return {'geometry', now} end
  local places = places_of(fresh)
  if not rules.companions then
    local alone = lone_companions(holder, fresh, places)
    if #alone > 0 then return {'companion_seat', now, alone} end
  end
  if rules.orphans then
    local lone = orphans_of(fresh, places)
    if #lone > 0 then return {'would_orphan', now, lone} end
  end
end

return take(holder, seats, mine, hold)
