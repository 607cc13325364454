-- Seating rules over the showtime's geometry (KEYS[13], written by
-- geometry.lua from holds/geometry.py): companion seats and the orphan rule.
--
-- The orphan rule (seats.io's): taking seats must not leave a free seat alone
-- between taken seats, or between a taken seat and an aisle, gap or row end
-- (a "lone seat"), unless no way of taking as many free seats in that row
-- leaves none alone. Only lone seats that the taking makes count: a seat
-- alone already (or a one-seat run) is nobody's doing.

-- The rules the stored geometry carries, or nil when it is not `version`.
local function geometry_rules(version)
  local got = redis.call('HMGET', geo_key, 'v', 'o', 'c')
  if got[1] ~= version then return nil end
  return {orphans = got[2] == '1', companions = got[3] == '1'}
end

-- Each seat's place ("<row>;<l2>,<l1>;<r1>,<r2>;<space>", holds/geometry.py)
-- as {row, l2, l1, r1, r2, space}, in order; nil for a seat the geometry lacks.
local function places_of(seats)
  local fields = {}
  for i, seat in ipairs(seats) do fields[i] = 's:' .. seat end
  local places = redis.call('HMGET', geo_key, unpack(fields))
  for i, text in ipairs(places) do
    if text then
      local row, l2, l1, r1, r2, space =
        string.match(text, '^([^;]*);([^,]*),([^;]*);([^,]*),([^;]*);(.*)$')
      places[i] = {row, l2, l1, r1, r2, space}
    else
      places[i] = nil
    end
  end
  return places
end

-- The companion seats among `seats` whose wheelchair space is neither among
-- them nor held by the holder already.
local function lone_companions(holder, seats, places)
  local asked = as_set(seats)
  local alone = {}
  for i, seat in ipairs(seats) do
    local space = places[i] and places[i][6]
    if space and space ~= '' and not asked[space] and redis.call('HGET', held_key, space) ~= holder then
      alone[#alone + 1] = seat
    end
  end
  return alone
end

-- A row's runs ("A1,A2|A3,A4") as lists of seat ids.
local function row_runs(text)
  local runs = {}
  for part in string.gmatch(text, '[^|]+') do runs[#runs + 1] = split(part) end
  return runs
end

-- A reader of seats' state for one look at the showtime (no writes between
-- its calls): called with seat ids, it answers which of them are taken,
-- booked, blocked or held by anyone (seat -> true). A blocked seat is taken
-- for best available (never picked) and for the orphan rule (a free seat
-- beside it is alone: nobody online can sit next to it there). The held hash is asked field by
-- field (HMGET) until the seats asked in all pass MAX_ASKED_ONE_BY_ONE; from
-- then on it is read whole once (HKEYS) and looked up here, when that is
-- cheaper: a hash of up to hash-max-listpack-entries fields (512 here, 128
-- by default) is a listpack, where each field HMGET names costs a scan of
-- it (~1.5 us for a half-full demo hall of 212 seats, HKEYS all ~50 us); a
-- bigger one is a hash table, read whole only once at least as many seats
-- as it has are asked. Best available's walk down its short list under
-- contention and its full scan ask for 50-200 seats.
local MAX_ASKED_ONE_BY_ONE = 32
local function state_reader()
  local all, asked, whole_at = nil, 0, nil
  return function(ids)
    local taken = {}
    if #ids == 0 then return taken end
    asked = asked + #ids
    if not all and asked > MAX_ASKED_ONE_BY_ONE then
      if not whole_at then
        -- pcall: servers without OBJECT (fakeredis) go by the size alone.
        local encoding = redis.pcall('OBJECT', 'ENCODING', held_key)
        local compact = encoding == 'listpack' or encoding == 'ziplist'
        whole_at = compact and 0 or redis.call('HLEN', held_key)
      end
      if asked >= whole_at then
        all = {}
        for _, seat in ipairs(redis.call('HKEYS', held_key)) do all[seat] = true end
      end
    end
    local held = all or redis.call('HMGET', held_key, unpack(ids))
    local booked = redis.call('SMISMEMBER', booked_key, unpack(ids))
    local blocked = redis.call('SMISMEMBER', blocked_key, unpack(ids))
    for i, seat in ipairs(ids) do
      if booked[i] == 1 or blocked[i] == 1 or (all and all[seat])
          or (not all and held[i]) then
        taken[seat] = true
      end
    end
    return taken
  end
end

-- Which of `ids` are taken, booked, blocked or held by anyone: seat -> true.
local function taken_of(ids)
  return state_reader()(ids)
end

-- Whether `k` of the row's free seats (those not in `taken`) can be taken
-- leaving no new lone seat. A stretch of L free seats gives j of them
-- cleanly unless L - j == 1 (the rest from one end keeps one stretch of at
-- least two, or none); a lone seat already there may stay. The stretches'
-- possible sums, up to k, are kept as a set.
local function avoidable(runs, taken, k)
  local reach = {[0] = true}
  local function stretch(len)
    if len == 0 then return end
    local next = {}
    for sum in pairs(reach) do
      for j = 0, math.min(len, k - sum) do
        if len < 2 or j ~= len - 1 then next[sum + j] = true end
      end
    end
    reach = next
  end
  for _, run in ipairs(runs) do
    local len = 0
    for _, seat in ipairs(run) do
      if taken[seat] then stretch(len); len = 0 else len = len + 1 end
    end
    stretch(len)
  end
  return reach[k] == true
end

-- The lone seats taking `seats` would make, by the orphan rule; `places` as
-- places_of(seats) read them. The state before counts `seats` free (they
-- are, for a hold; checkout asks for its basket, which the holder has).
-- A seat can only be left alone by a neighbour taken: so a free seat next
-- to one of `seats` whose far side is taken (or the run's end) afterwards,
-- and which had that free neighbour before. Only then is the whole row
-- read, to see whether any choice of as many seats avoids it.
local function orphans_of(seats, places)
  local adding = as_set(seats)
  local ids, seen = {}, {}
  for i = 1, #seats do
    local place = places[i]
    if place then
      for k = 2, 5 do
        local seat = place[k]
        if seat ~= '' and not adding[seat] and not seen[seat] then
          seen[seat] = true; ids[#ids + 1] = seat
        end
      end
    end
  end
  local taken = taken_of(ids)
  local function busy(seat) return seat == '' or taken[seat] or adding[seat] end
  local lone_by_row, order, count, found = {}, {}, {}, {}
  for i = 1, #seats do
    local place = places[i]
    if place then
      local row = place[1]
      if not count[row] then count[row] = 0; order[#order + 1] = row end
      count[row] = count[row] + 1
      for _, pair in ipairs({{place[3], place[2]}, {place[4], place[5]}}) do
        local near, far = pair[1], pair[2]
        if near ~= '' and not busy(near) and busy(far) and not found[near] then
          found[near] = true
          lone_by_row[row] = lone_by_row[row] or {}
          table.insert(lone_by_row[row], near)
        end
      end
    end
  end
  local lone = {}
  for _, row in ipairs(order) do
    local new = lone_by_row[row]
    if new then
      local runs = row_runs(redis.call('HGET', geo_key, 'r:' .. row) or '')
      local all = {}
      for _, run in ipairs(runs) do
        for _, seat in ipairs(run) do all[#all + 1] = seat end
      end
      local state = taken_of(all)
      for seat in pairs(adding) do state[seat] = nil end
      if avoidable(runs, state, count[row]) then
        local position = {}
        for i, seat in ipairs(all) do position[seat] = i end
        table.sort(new, function(p, q) return position[p] < position[q] end)
        for _, seat in ipairs(new) do lone[#lone + 1] = seat end
      end
    end
  end
  return lone
end
