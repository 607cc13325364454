-- hold: take every requested seat for the holder, or none of them.
--   KEYS, ARGV[1..3]  see _prelude.lua
--   ARGV[4] holder id
--   ARGV[5] hold ttl (ms)
--   ARGV[6] most seats one holder may hold in this showtime
--   ARGV[7] backstop (ms) the seat key outlives its deadline by
--   ARGV[8] most seats held from one client address in this showtime
--   ARGV[9] the client address ('' when the hold carries none)
--   ARGV[10] address set prefix "addr:{st:<id>}:" ('' : no per-address cap)
--   ARGV[11] seat -> address hash "addrof:{st:<id>}"
--   ARGV[12..] seat ids (validated against the layout, no duplicates)
-- Returns {'ok', now, deadline, offset, epoch}
--      or {'seats_unavailable', now, {seats}} | {'too_many_seats', now, {}}
--      or {'too_many_seats', now, {}, 'address'} (the client address's cap).
-- Re-holding one's own seat succeeds and moves its deadline (later or earlier).
-- A seat held again is no longer in the holder's lapsed set.
--
-- Per-address cap: the address set (zset seat -> deadline) counts the seats
-- held from one address across all its holders, and the addrof hash names the
-- address of each seat's latest hold. Holds end in scripts that know nothing
-- of addresses (release, expire, book, cancel, the key's TTL backstop), so
-- entries go stale and are dropped lazily here: by deadline at every hold
-- (an expired hold leaves by itself), and, only when the count would refuse,
-- each entry whose seat is no longer held or whose latest hold is another
-- address's. The common hold costs O(log n); a refusal O(cap).

local holder = ARGV[4]
local ttl = tonumber(ARGV[5])
local max_seats = tonumber(ARGV[6])
local backstop = tonumber(ARGV[7])
local address_cap, address, addr_prefix, addrof_key =
  tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[11]
local mine_key = mine_prefix .. holder
local seats = {}
for i = 12, #ARGV do seats[#seats + 1] = ARGV[i] end

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

local addr_key = false
if addr_prefix ~= '' and address ~= '' and address_cap > 0 then
  addr_key = addr_prefix .. address
end

-- Seats held from the address now, and how many of the requested ones would
-- be new to its count.
local function address_count()
  local adding = 0
  for _, seat in ipairs(seats) do
    if not redis.call('ZSCORE', addr_key, seat) then adding = adding + 1 end
  end
  return redis.call('ZCARD', addr_key), adding
end

if addr_key then
  redis.call('ZREMRANGEBYSCORE', addr_key, '-inf', now)
  local counted, adding = address_count()
  if counted + adding > address_cap then
    for _, seat in ipairs(redis.call('ZRANGE', addr_key, 0, -1)) do
      if redis.call('EXISTS', seat_prefix .. seat) == 0
          or redis.call('HGET', addrof_key, seat) ~= address then
        redis.call('ZREM', addr_key, seat)
      end
    end
    counted, adding = address_count()
    if counted + adding > address_cap then
      return {'too_many_seats', now, {}, 'address'}
    end
  end
end

-- Which seats the holder held already (read before they are written).
local held_before = {}
if addr_prefix ~= '' and not addr_key then
  for _, seat in ipairs(seats) do
    held_before[seat] = redis.call('GET', seat_prefix .. seat) == holder
  end
end

local deadline = now + ttl
for _, seat in ipairs(seats) do
  redis.call('SET', seat_prefix .. seat, holder, 'PX', ttl + backstop)
  redis.call('ZADD', exp_key, deadline, seat)
end
redis.call('SADD', mine_key, unpack(seats))
redis.call('SREM', lapsed_key(holder), unpack(seats))
if addr_key then
  for _, seat in ipairs(seats) do
    redis.call('ZADD', addr_key, deadline, seat)
    redis.call('HSET', addrof_key, seat, address)
  end
  if redis.call('PTTL', addr_key) < ttl + backstop then
    redis.call('PEXPIREAT', addr_key, deadline + backstop)
  end
  if redis.call('PTTL', addrof_key) < ttl + backstop then
    redis.call('PEXPIREAT', addrof_key, deadline + backstop)
  end
elseif addr_prefix ~= '' then
  -- A hold without an address (checkout extending the buyer's holds into
  -- the payment window): a seat keeps counting for the address it was
  -- taken from, until its new deadline; a seat new to the holder counts
  -- for no address.
  for _, seat in ipairs(seats) do
    local from = redis.call('HGET', addrof_key, seat)
    if from and not held_before[seat] then
      redis.call('HDEL', addrof_key, seat)
    elseif from and redis.call('ZSCORE', addr_prefix .. from, seat) then
      redis.call('ZADD', addr_prefix .. from, deadline, seat)
      if redis.call('PTTL', addr_prefix .. from) < ttl + backstop then
        redis.call('PEXPIREAT', addr_prefix .. from, deadline + backstop)
      end
      if redis.call('PTTL', addrof_key) < ttl + backstop then
        redis.call('PEXPIREAT', addrof_key, deadline + backstop)
      end
    end
  end
end
-- The holder's set lives as long as its longest hold: a re-hold that moves a
-- deadline earlier (checkout giving back a payment window) must not cut short
-- the set's other seats. Its stale members are dropped above and by snapshot.
if redis.call('PTTL', mine_key) < ttl + backstop then
  redis.call('PEXPIREAT', mine_key, deadline + backstop)
end
local offset = append('hold', seats, {'e', deadline})
return {'ok', now, deadline, offset, stream_epoch()}
