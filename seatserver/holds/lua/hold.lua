-- hold: take every requested seat for the holder, or none of them.
--   KEYS, ARGV[1..3]  see _prelude.lua
--   ARGV[4] holder id
--   ARGV[5] hold ttl (ms)
--   ARGV[6] most seats one holder may hold in this showtime
--   ARGV[7] backstop (ms) the seat key outlives its deadline by
--   ARGV[8..] seat ids (validated against the layout, no duplicates)
-- Returns {'ok', now, deadline, offset, epoch}
--      or {'seats_unavailable', now, {seats}} | {'too_many_seats', now, {}}.
-- Re-holding one's own seat succeeds and moves its deadline (later or earlier).
-- A seat held again is no longer in the holder's lapsed set.

local holder = ARGV[4]
local ttl = tonumber(ARGV[5])
local max_seats = tonumber(ARGV[6])
local backstop = tonumber(ARGV[7])
local mine_key = mine_prefix .. holder
local seats = {}
for i = 8, #ARGV do seats[#seats + 1] = ARGV[i] end

-- Count what the holder still holds, dropping seats whose key the backstop
-- TTL removed while no script ran (the expiry step cannot name their holder).
local held_count = 0
for _, seat in ipairs(redis.call('SMEMBERS', mine_key)) do
  if redis.call('GET', seat_prefix .. seat) == holder then
    held_count = held_count + 1
  else
    redis.call('SREM', mine_key, seat)
  end
end

local refused, fresh = {}, 0
for _, seat in ipairs(seats) do
  if redis.call('SISMEMBER', booked_key, seat) == 1 then
    refused[#refused + 1] = seat
  else
    local current = redis.call('GET', seat_prefix .. seat)
    if not current then
      fresh = fresh + 1
    elseif current ~= holder then
      refused[#refused + 1] = seat
    end
  end
end
if #refused > 0 then return {'seats_unavailable', now, refused} end
if held_count + fresh > max_seats then return {'too_many_seats', now, {}} end

local deadline = now + ttl
for _, seat in ipairs(seats) do
  redis.call('SET', seat_prefix .. seat, holder, 'PX', ttl + backstop)
  redis.call('ZADD', exp_key, deadline, seat)
end
redis.call('SADD', mine_key, unpack(seats))
redis.call('SREM', lapsed_key(holder), unpack(seats))
-- The holder's set lives as long as its longest hold: a re-hold that moves a
-- deadline earlier (checkout giving back a payment window) must not cut short
-- the set's other seats. Its stale members are dropped above and by snapshot.
if redis.call('PTTL', mine_key) < ttl + backstop then
  redis.call('PEXPIREAT', mine_key, deadline + backstop)
end
local offset = append('hold', seats, {'e', deadline})
return {'ok', now, deadline, offset, stream_epoch()}
