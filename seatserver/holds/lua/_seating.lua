-- Seating rules over the showtime's geometry (KEYS[12], written by
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

-- Each seat's place field ("<row>" or "<row>|<wheelchair space>"), in order.
local function places_of(seats)
  local fields = {}
  for i, seat in ipairs(seats) do fields[i] = 's:' .. seat end
  return redis.call('HMGET', geo_key, unpack(fields))
end

-- The companion seats among `seats` whose wheelchair space is neither among
-- them nor held by the holder already.
local function lone_companions(holder, seats, places)
  local asked = as_set(seats)
  local alone = {}
  for i, seat in ipairs(seats) do
    local space = places[i] and string.match(places[i], '|(.+)$')
    if space and not asked[space] and redis.call('HGET', held_key, space) ~= holder then
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

-- Which of `ids` are taken, booked or held by anyone: seat -> true.
local function taken_of(ids)
  local taken = {}
  if #ids == 0 then return taken end
  local held = redis.call('HMGET', held_key, unpack(ids))
  local booked = redis.call('SMISMEMBER', booked_key, unpack(ids))
  for i, seat in ipairs(ids) do
    if held[i] or booked[i] == 1 then taken[seat] = true end
  end
  return taken
end

-- Adds to `out` the lone seats of `run` when the seats of `taken` and of
-- `adding` are taken.
local function singles(run, taken, adding, out)
  local n = #run
  local function busy(i) return taken[run[i]] or adding[run[i]] end
  for i = 1, n do
    if not busy(i) and (i == 1 or busy(i - 1)) and (i == n or busy(i + 1)) then
      out[run[i]] = true
    end
  end
  return out
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
local function orphans_of(seats, places)
  local order, count = {}, {}
  for i = 1, #seats do
    local row = places[i] and string.match(places[i], '^[^|]+')
    if row then
      if not count[row] then count[row] = 0; order[#order + 1] = row end
      count[row] = count[row] + 1
    end
  end
  if #order == 0 then return {} end
  local fields = {}
  for i, row in ipairs(order) do fields[i] = 'r:' .. row end
  local texts = redis.call('HMGET', geo_key, unpack(fields))
  local ids, runs_of = {}, {}
  for i, row in ipairs(order) do
    runs_of[row] = row_runs(texts[i] or '')
    for _, run in ipairs(runs_of[row]) do
      for _, seat in ipairs(run) do ids[#ids + 1] = seat end
    end
  end
  local taken = taken_of(ids)
  local adding = as_set(seats)
  for seat in pairs(adding) do taken[seat] = nil end
  local lone = {}
  for _, row in ipairs(order) do
    local runs = runs_of[row]
    local before, after = {}, {}
    for _, run in ipairs(runs) do
      singles(run, taken, {}, before)
      singles(run, taken, adding, after)
    end
    local new = {}
    for _, run in ipairs(runs) do
      for _, seat in ipairs(run) do
        if after[seat] and not before[seat] then new[#new + 1] = seat end
      end
    end
    if #new > 0 and avoidable(runs, taken, count[row]) then
      for _, seat in ipairs(new) do lone[#lone + 1] = seat end
    end
  end
  return lone
end
