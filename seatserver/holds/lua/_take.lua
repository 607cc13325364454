-- Taking seats for a holder: what hold.lua and best.lua share once they know
-- which seats to take (checked free, or the holder's own).
--
-- Per-address cap: the address index (KEYS[10]) has an entry per seat held
-- from an address, across all its holders, and addrof names the address of
-- each seat's latest hold. Holds end in scripts that leave addresses alone
-- (release, expire, book, cancel, the TTL backstop), so entries go stale and
-- are dropped here, only when the count would refuse: each whose seat is no
-- longer held or whose latest hold is another address's. Stale entries are
-- so bounded by the cap; the common hold costs O(log n), a refusal O(cap).

-- What the holder still holds, dropping seats whose hold the backstop TTL
-- removed while no script ran (the expiry step cannot name their holder).
local function mine_of(holder)
  local mine = {}
  for _, seat in ipairs(split(redis.call('HGET', mine_key, holder))) do
    if redis.call('HGET', held_key, seat) == holder then mine[#mine + 1] = seat end
  end
  return mine
end

-- Takes `seats` for `holder`, who holds `mine` already. `hold` carries the
-- verb's arguments: ttl, backstop, address_cap, address, and max, the
-- longest a run of holds may last (0: no limit; see run_began): no
-- deadline goes past the run's end. Returns the
-- script's reply: {'ok', now, deadline, offset, epoch} or the address cap's
-- {'too_many_seats', now, {}, 'address'}.
local function take(holder, seats, mine, hold)
  local ttl, backstop = hold.ttl, hold.backstop
  local address_cap, address = hold.address_cap, hold.address
  local books = address_cap > 0
  local capped = books and address ~= ''
  local first = '[' .. address .. '|'
  local last = '(' .. address .. '}'  -- '}' sorts right after '|'

  -- Seats held from the address now, and how many of the requested ones
  -- would be new to its count.
  local function address_count()
    local adding = 0
    for _, seat in ipairs(seats) do
      if not redis.call('ZSCORE', addr_key, address_entry(address, seat)) then
        adding = adding + 1
      end
    end
    return redis.call('ZLEXCOUNT', addr_key, first, last), adding
  end

  if capped then
    local counted, adding = address_count()
    if counted + adding > address_cap then
      local prefix = #address + 2
      for _, entry in ipairs(redis.call('ZRANGEBYLEX', addr_key, first, last)) do
        local seat = string.sub(entry, prefix)
        if redis.call('HEXISTS', held_key, seat) == 0
            or redis.call('HGET', addrof_key, seat) ~= address then
          redis.call('ZREM', addr_key, entry)
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
  if books and not capped then
    local current = redis.call('HMGET', held_key, unpack(seats))
    for i, seat in ipairs(seats) do held_before[seat] = current[i] == holder end
  end

  local began = run_began(holder, #mine > 0, hold.max)
  local deadline = now + ttl
  if hold.max > 0 then deadline = math.min(deadline, began + hold.max) end
  local until_ms = deadline + backstop
  local fields, scored = {}, {}
  for _, seat in ipairs(seats) do
    fields[#fields + 1] = seat
    fields[#fields + 1] = holder
    scored[#scored + 1] = deadline
    scored[#scored + 1] = seat
  end
  redis.call('HSET', held_key, unpack(fields))
  redis.call('ZADD', exp_key, unpack(scored))
  put_list(mine_key, holder, with(mine, seats))
  keep_until(held_key, until_ms)
  keep_until(mine_key, until_ms)
  keep_until(run_key, until_ms)
  unlapse(holder, seats)
  if capped then
    local entries, owners = {}, {}
    for _, seat in ipairs(seats) do
      entries[#entries + 1] = 0
      entries[#entries + 1] = address_entry(address, seat)
      owners[#owners + 1] = seat
      owners[#owners + 1] = address
    end
    redis.call('ZADD', addr_key, unpack(entries))
    redis.call('HSET', addrof_key, unpack(owners))
    keep_until(addr_key, until_ms)
    keep_until(addrof_key, until_ms)
  elseif books then
    -- A hold without an address (checkout extending the buyer's holds into
    -- the payment window): a seat keeps counting for the address it was
    -- taken from, until its new deadline; a seat new to the holder counts
    -- for no address.
    for _, seat in ipairs(seats) do
      local from = redis.call('HGET', addrof_key, seat)
      if from and not held_before[seat] then
        redis.call('HDEL', addrof_key, seat)
      elseif from then
        keep_until(addr_key, until_ms)
        keep_until(addrof_key, until_ms)
      end
    end
  end
  local offset = append('hold', seats, {'e', deadline, 'h', holder})
  return {'ok', now, deadline, offset, stream_epoch()}
end
