-- best: pick the best free seats for a party and hold them, in one step.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2..8] as hold.lua's (holder, ttl, max seats, backstop, address
--              cap, address, longest run of holds)
--   ARGV[9] the geometry version the caller built (never '')
--   ARGV[10] '1': gated by the waiting room, as hold.lua's ARGV[10]
--   ARGV[11] how many seats, n (1..max seats)
--   ARGV[12] how many of them wheelchair spaces, k (0..n)
--   ARGV[13..] the seat types asked for (none: any type)
-- Returns hold.lua's {'ok', now, deadline, offset, epoch} followed by the
-- seats held (front row first, left to right) and 1 when they sit together
-- in one run, else 0; or {'seats_unavailable', now, {}} when nothing fits;
-- or hold.lua's too_many_seats, not_admitted and geometry refusals.
--
-- Which seats, in this order of preference (the first that finds any wins):
--   1. n neighbouring seats in one run (between aisles, gaps or row ends)
--      that leave no lone seat (the orphan rule, _seating.lua);
--   2. n neighbouring seats in one run, leaving a lone seat;
--   3. the party split over two rows one behind the other, a neighbouring
--      block in each (k = 0 only), lone seats avoided first;
--   4. the nearest seats: the best seat (or the k best wheelchair spaces
--      with their companions) and the seats closest to it.
-- Within a step the lowest cost wins: the sum of the seats' scores
-- (holds/geometry.py: distance from two thirds back on the centre line);
-- a split also pays for the sideways drift between its two blocks, and a
-- wheelchair space picked without its free companion seat pays MISSING.
-- Seats eligible: free, of an asked type; wheelchair spaces only as one of
-- the k; companion seats with their space in the pick, or on their own when
-- the showtime's rule sells them to anyone. Ties go to the front-most, then
-- left-most seats.

local MISSING = 1000000
local holder = ARGV[2]
local hold = {ttl = tonumber(ARGV[3]), backstop = tonumber(ARGV[5]),
              address_cap = tonumber(ARGV[6]), address = ARGV[7], max = tonumber(ARGV[8])}
local max_seats = tonumber(ARGV[4])
local n, need = tonumber(ARGV[11]), tonumber(ARGV[12])
local types = {}
for i = 13, #ARGV do types[ARGV[i]] = true end
local any_type = #ARGV < 13

if ARGV[10] == '1' then
  local refusal = admission_refusal(holder)
  if refusal then return refusal end
end

local rules = geometry_rules(ARGV[9])
if not rules then return {'geometry', now} end
local mine = mine_of(holder)
if #mine + n > max_seats then return {'too_many_seats', now, {}} end

-- The short cut (steps 1 and 2 without wheelchair spaces): the blocks of n
-- listed best first (holds/geometry.py, b:<n>), each as its row, its run in
-- the row, where it starts in the run, and its companion flag and type set.
-- A block's run is read whole (its ids from the row's r:<row>, then its
-- seats' state), a few runs at a time: the blocks listed meanwhile wait, and
-- once the runs are read they are judged in order, as is every later block
-- of a run read already: the first free one leaving no lone seat wins, else
-- the first free one. Nil when no block of n is free, or when the list stops
-- short of the hall (b:<n> ends in '...') before a block leaving no lone
-- seat was found.
local function shortcut()
  local list = redis.call('HGET', geo_key, 'b:' .. n)
  if not list then return nil end
  local fit = nil  -- type set number -> all its types asked (nil: any type)
  if not any_type then
    fit = {}
    for set in string.gmatch(redis.call('HGET', geo_key, 't') or '', '[^ ]+') do
      local all = true
      for kind in string.gmatch(set, '[^/]+') do
        if not types[kind] then all = false; break end
      end
      fit[#fit + 1] = all
    end
  end
  local read = state_reader()
  local runs, taken = {}, {}  -- row -> its runs (lists of ids); seat -> taken
  local asked, rows_asked = {}, {}  -- runs and rows sent for
  local rows_wanted, runs_wanted, waiting = {}, {}, {}
  local first_lone, size = nil, 2
  local function free(run, j) return run[j] ~= nil and not taken[run[j]] end
  -- A block {row, run, start} of a run read: its seats when it wins.
  local function judge_one(b)
    local run = runs[b[1]][b[2]]
    local a, last = b[3], b[3] + n - 1
    for j = a, last do
      if taken[run[j]] ~= false then return nil end
    end
    local seats = {}
    for j = a, last do seats[#seats + 1] = run[j] end
    if not ((free(run, a - 1) and not free(run, a - 2))
            or (free(run, last + 1) and not free(run, last + 2))) then
      return seats
    end
    first_lone = first_lone or seats
    return nil
  end
  local function judge()
    if #rows_wanted > 0 then
      local fields = {}
      for i, row in ipairs(rows_wanted) do fields[i] = 'r:' .. row end
      local texts = redis.call('HMGET', geo_key, unpack(fields))
      for i, row in ipairs(rows_wanted) do runs[row] = row_runs(texts[i] or '') end
      rows_wanted = {}
    end
    local ids = {}
    for _, b in ipairs(runs_wanted) do
      for _, seat in ipairs(runs[b[1]][b[2]]) do ids[#ids + 1] = seat end
    end
    runs_wanted = {}
    local state = read(ids)
    for _, seat in ipairs(ids) do taken[seat] = state[seat] == true end
    for _, b in ipairs(waiting) do
      local won = judge_one(b)
      if won then return won end
    end
    waiting = {}
    return nil
  end
  for row, run, a, mate, set in string.gmatch(list, '(%d+)%.(%d+)%.(%d+)%.(%d)%.(%d+)') do
    if (mate == '0' or rules.companions) and (not fit or fit[tonumber(set)]) then
      local b = {tonumber(row), tonumber(run), tonumber(a)}
      local key = row .. '.' .. run
      if not asked[key] then
        asked[key] = true
        if not rows_asked[row] then
          rows_asked[row] = true
          rows_wanted[#rows_wanted + 1] = b[1]
        end
        runs_wanted[#runs_wanted + 1] = b
      end
      if #waiting == 0 and #runs_wanted == 0 then
        local won = judge_one(b)
        if won then return won end
      else
        waiting[#waiting + 1] = b
        if #runs_wanted >= size then
          local won = judge()
          if won then return won end
          size = size * 2
        end
      end
    end
  end
  if #waiting > 0 then
    local won = judge()
    if won then return won end
  end
  -- The list stops short of the hall: a block past it might leave no lone
  -- seat where these all do. The full scan decides.
  if string.sub(list, -3) == '...' then return nil end
  return first_lone
end

if need == 0 then
  local quick = shortcut()
  if quick then
    local reply = take(holder, quick, mine, hold)
    if reply[1] ~= 'ok' then return reply end
    reply[#reply + 1] = quick
    reply[#reply + 1] = 1
    return reply
  end
end

-- seat i: {id, type, accessible (0/1), space it accompanies (0: none),
-- score, x, row}; rows: each a list of runs, each a list of seat indexes.
local geo = cjson.decode(redis.call('HGET', geo_key, 'g'))
local seats, rows = geo.seats, geo.rows
local ids, companions = {}, {}
for i, seat in ipairs(seats) do
  ids[i] = seat[1]
  if seat[4] > 0 then
    companions[seat[4]] = companions[seat[4]] or {}
    table.insert(companions[seat[4]], i)
  end
end
local taken = taken_of(ids)
local ok = {}  -- free and of an asked type
for i, seat in ipairs(seats) do
  ok[i] = not taken[seat[1]] and (any_type or types[seat[2]] == true)
end

-- The block run[a .. a+len-1] as a candidate {cost, lone, picks, x}, or nil
-- when a seat of it is not eligible or it has not exactly `spaces`
-- wheelchair spaces. `lone`: it leaves a lone seat at either end.
local function block(run, a, len, spaces)
  local cost, count, xs, inside = 0, 0, 0, {}
  local last = a + len - 1
  for j = a, last do
    local i = run[j]
    if not ok[i] then return nil end
    inside[i] = true
  end
  for j = a, last do
    local i = run[j]
    local seat = seats[i]
    if seat[3] == 1 then count = count + 1 end
    if seat[4] > 0 and not inside[seat[4]] and not rules.companions then return nil end
    cost = cost + seat[5]
    xs = xs + seat[6]
    for _, c in ipairs(companions[i] or {}) do
      if ok[c] and not inside[c] then cost = cost + MISSING end
    end
  end
  if count ~= spaces then return nil end
  local function alone(j, beyond)
    return run[j] and not taken[ids[run[j]]]
      and (not run[beyond] or taken[ids[run[beyond]]]) and true or false
  end
  local picks = {}
  for j = a, last do picks[#picks + 1] = run[j] end
  return {cost = cost, lone = alone(a - 1, a - 2) or alone(last + 1, last + 2),
          picks = picks, x = xs / len}
end

local function better(c, best)
  if not c then return best end
  if not best then return c end
  if c.lone ~= best.lone then return best.lone and c or best end
  return c.cost < best.cost and c or best
end

-- The best block of `len` seats in a row.
local function best_in_row(row, len, spaces)
  local best = nil
  for _, run in ipairs(row) do
    for a = 1, #run - len + 1 do best = better(block(run, a, len, spaces), best) end
  end
  return best
end

local picks, together = nil, 1
local found = nil
for _, row in ipairs(rows) do found = better(best_in_row(row, n, need), found) end
if found then picks = found.picks end

if not picks and need == 0 and n > 1 then
  for r = 1, #rows - 1 do
    for a = 1, n - 1 do
      local front, back = best_in_row(rows[r], a, 0), best_in_row(rows[r + 1], n - a, 0)
      if front and back then
        local both = {}
        for _, i in ipairs(front.picks) do both[#both + 1] = i end
        for _, i in ipairs(back.picks) do both[#both + 1] = i end
        found = better({cost = front.cost + back.cost + math.floor(10 * math.abs(front.x - back.x)),
                        lone = front.lone or back.lone, picks = both}, found)
      end
    end
  end
  if found then picks, together = found.picks, 0 end
end

if not picks then
  together = 0
  local chosen, taken_now = {}, {}
  local function pick(i) chosen[#chosen + 1] = i; taken_now[i] = true end
  local function by_score(list)
    table.sort(list, function(p, q)
      if seats[p][5] ~= seats[q][5] then return seats[p][5] < seats[q][5] end
      return p < q
    end)
    return list
  end
  local spaces, regular = {}, {}
  for i, seat in ipairs(seats) do
    if ok[i] and seat[3] == 1 then spaces[#spaces + 1] = i
    elseif ok[i] and (seat[4] == 0 or rules.companions) then regular[#regular + 1] = i end
  end
  by_score(spaces)
  by_score(regular)
  if #spaces < need then return {'seats_unavailable', now, {}} end
  for s = 1, need do
    pick(spaces[s])
    for _, c in ipairs(companions[spaces[s]] or {}) do
      if ok[c] and #chosen < n - (need - s) then pick(c) end
    end
  end
  local anchor = chosen[1] or regular[1]
  if anchor then
    local ax, arow = seats[anchor][6], seats[anchor][7]
    local near = {}
    for _, i in ipairs(regular) do
      if not taken_now[i] then
        near[#near + 1] = {i, 10 * math.abs(seats[i][6] - ax) + 20 * math.abs(seats[i][7] - arow)}
      end
    end
    table.sort(near, function(p, q)
      if p[2] ~= q[2] then return p[2] < q[2] end
      return p[1] < q[1]
    end)
    for _, entry in ipairs(near) do
      if #chosen >= n then break end
      pick(entry[1])
    end
  end
  if #chosen < n then return {'seats_unavailable', now, {}} end
  table.sort(chosen)
  picks = chosen
end

local held = {}
for _, i in ipairs(picks) do held[#held + 1] = ids[i] end
local reply = take(holder, held, mine, hold)
if reply[1] ~= 'ok' then return reply end
reply[#reply + 1] = held
reply[#reply + 1] = together
return reply
