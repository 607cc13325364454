-- Prelude shared by every hold script; the engine prepends it when loading.
--
-- Every script is called with the same keys, all of the showtime's hash slot
-- (redis_keys.showtime_keys builds them, in this order), and declares every
-- key it touches: the set of keys is fixed per showtime, not derived from a
-- seat or a holder, so Redis Cluster, proxies and compatible servers that
-- check declared keys see them all.
--   KEYS[1]  exp:{st:<id>}      zset: held seat -> deadline (ms, Redis clock)
--   KEYS[2]  booked:{st:<id>}   set:  booked seats
--   KEYS[3]  ev:{st:<id>}       stream: the showtime's event log
--   KEYS[4]  epoch:{st:<id>}    string: the stream's epoch (see stream_epoch)
--   KEYS[5]  held:{st:<id>}     hash: held seat -> holder id
--   KEYS[6]  mine:{st:<id>}     hash: holder id -> its held seats, "A1,A2"
--   KEYS[7]  lapsed:{st:<id>}   hash: holder id -> seats whose hold by it
--                               expired and that it has not held since
--   KEYS[8]  lapsedat:{st:<id>} zset: holder id -> its last lapse (ms)
--   KEYS[9]  bref:{st:<id>}     hash: booked seat -> booking reference
--   KEYS[10] addr:{st:<id>}     zset, all scores 0: "<address>|<seat>" for
--                               each seat held from a client address (and
--                               stale ones, dropped lazily: see hold.lua)
--   KEYS[11] addrof:{st:<id>}   hash: held seat -> address of its latest hold
--   KEYS[12] run:{st:<id>}      hash: holder id -> when its current run of
--                               holds began (ms; see run_began)
--   KEYS[13] geo:{st:<id>}      hash: the seat geometry and seating rules,
--                               versioned (holds/geometry.py, _seating.lua)
--   KEYS[14] qm:{st:<id>}       hash: sale settings and waiting room state
--                               (waiting/lua/_queue.lua); absent: none
--   KEYS[15] adm:{st:<id>}      zset: holder id -> end of its admission (ms)
--   KEYS[16] blocked:{st:<id>}  set: blocked seats (house, press, broken),
--                               never held online (block.lua)
--   ARGV[1]  stream max length (approximate trim); each verb's own
--            arguments follow from ARGV[2].
-- Seat ids never contain ',' (the layout's ids; the stream's `s` field joins
-- them the same way).
--
-- The deadline clock is Redis' own TIME, never the caller's. Running the due
-- expiries first means no script ever acts on a hold whose deadline passed.
-- The hashes live, as a whole, until the latest deadline they hold plus the
-- backstop; every hold ends in a script (deadlines in KEYS[1]), the TTL only
-- clears what a showtime nobody touches any more left behind.

local exp_key, booked_key, ev_key, epoch_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local held_key, mine_key, lapsed_key, lapsed_at_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local refs_key, addr_key, addrof_key = KEYS[9], KEYS[10], KEYS[11]
local run_key, geo_key = KEYS[12], KEYS[13]
local sale_key, adm_key, blocked_key = KEYS[14], KEYS[15], KEYS[16]
local maxlen = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- The stream's epoch: an offset means something only within one epoch.
-- Stream ids are Redis' clock, so a Redis that lost the stream (restarted
-- empty) or never had all of it (a replica promoted while behind) can hand
-- out ids a client already saw, for other events. An epoch is one Redis
-- server's unbroken custody of the stream: it starts with the first script
-- that finds the key missing, or written by another server (the first 12
-- digits of its replication id, which a restart or a promotion changes, are
-- the epoch's first part; a replica carries its master's). Every entry is
-- stamped with it, so a reader never mistakes one epoch's entries for
-- another's. Read (INFO) once per script, and only by scripts that append or
-- answer with an offset.
local epoch_now = nil
local function stream_epoch()
  if epoch_now then return epoch_now end
  -- pcall: a server that does not let scripts call INFO (fakeredis) gets
  -- epochs that change only when the key is lost.
  local info = redis.pcall('INFO', 'replication')
  local server = ''
  if type(info) == 'string' then
    server = string.sub(string.match(info, 'master_replid:(%w+)') or '', 1, 12)
  end
  local stored = redis.call('GET', epoch_key)
  if stored and string.sub(stored, 1, #server + 1) == server .. '.' then
    epoch_now = stored
  else
    epoch_now = server .. '.' .. clock[1] .. string.format('%06d', tonumber(clock[2]))
    redis.call('SET', epoch_key, epoch_now)
  end
  return epoch_now
end

-- Appends one event to the stream; returns its id (the room's new offset).
-- Fields: k kind, s seats, x epoch; `extra` adds e (a hold's deadline) and
-- h (the holder id of a hold or release, for the admin's seat history: a
-- user id, never a session token; readers ignore fields they do not know).
local function append(kind, seats, extra)
  local args = {'XADD', ev_key, 'MAXLEN', '~', maxlen, '*',
                'k', kind, 's', table.concat(seats, ','), 'x', stream_epoch()}
  if extra then
    for i = 1, #extra do args[#args + 1] = extra[i] end
  end
  return redis.call(unpack(args))
end

-- A list of seats as one hash value ("A1,A2"; '' or a missing field: none).
local function split(value)
  local seats = {}
  if value then
    for seat in string.gmatch(value, '[^,]+') do seats[#seats + 1] = seat end
  end
  return seats
end

-- Writes a holder's entry of a seat-list hash (mine, lapsed); none: removed.
local function put_list(key, holder, seats)
  if #seats == 0 then
    redis.call('HDEL', key, holder)
  else
    redis.call('HSET', key, holder, table.concat(seats, ','))
  end
end

-- The seats of `list` that are not in `gone` (a set: seat -> true).
local function without(list, gone)
  local kept = {}
  for _, seat in ipairs(list) do
    if not gone[seat] then kept[#kept + 1] = seat end
  end
  return kept
end

-- `list` with `seats` appended, each seat once.
local function with(list, seats)
  local seen, out = {}, {}
  for _, seat in ipairs(list) do
    if not seen[seat] then seen[seat] = true; out[#out + 1] = seat end
  end
  for _, seat in ipairs(seats) do
    if not seen[seat] then seen[seat] = true; out[#out + 1] = seat end
  end
  return out
end

local function as_set(seats)
  local set = {}
  for _, seat in ipairs(seats) do set[seat] = true end
  return set
end

-- Makes a key live at least until `at` (ms); never shortens its life.
local function keep_until(key, at)
  if redis.call('PTTL', key) < at - now then redis.call('PEXPIREAT', key, at) end
end

-- The member of the address index for one seat held from one address.
local function address_entry(address, seat)
  return address .. '|' .. seat
end

-- A holder's run of holds in the showtime: it begins with a hold made while
-- the holder holds nothing here, and lasts while it holds any seat (adding
-- seats or holding its own again does not begin a new one). Holds and
-- extensions set no deadline past `began + hold max` (hold.lua, extend.lua),
-- so a buyer cannot keep seats for ever by extending or re-holding; only
-- checkout's move into the payment window (a hold with no limit) goes past.
-- Returns when the holder's run began, beginning one now when `holding` is
-- false, when none is recorded (holds older than runs), or when its limit
-- has passed (only holds checkout extended outlive it). `max_ms` 0: no
-- limit to check.
local function run_began(holder, holding, max_ms)
  local began = tonumber(redis.call('HGET', run_key, holder))
  if holding and began and (max_ms == 0 or began + max_ms > now) then return began end
  redis.call('HSET', run_key, holder, now)
  return now
end

-- Drops whatever holds `seats` have: their holder and their holders' lists
-- (the caller removes them from the expiry set); a holder left holding
-- nothing has its run ended. `current` is their holders as HMGET read them,
-- when the caller has read them already. Address entries are left to the
-- hold script, which drops the stale ones it meets (see hold.lua). Returns
-- seat -> holder for the seats that had one.
local function drop_holds(seats, current)
  local holders = {}
  if #seats == 0 then return holders end
  current = current or redis.call('HMGET', held_key, unpack(seats))
  local gone_of, order = {}, {}  -- holder -> set of its seats dropped
  for i, seat in ipairs(seats) do
    local holder = current[i]
    if holder then
      holders[seat] = holder
      if not gone_of[holder] then gone_of[holder] = {}; order[#order + 1] = holder end
      gone_of[holder][seat] = true
    end
  end
  redis.call('HDEL', held_key, unpack(seats))
  for _, holder in ipairs(order) do
    local gone = gone_of[holder]
    local left = without(split(redis.call('HGET', mine_key, holder)), gone)
    put_list(mine_key, holder, left)
    if #left == 0 then redis.call('HDEL', run_key, holder) end
  end
  return holders
end

-- A holder's lapsed seats: seats whose hold by them ran out (expired) and
-- that they have not held since, kept an hour after their last lapse.
-- Checkout tells "your hold expired" from "you hold nothing" by it.
local LAPSED_KEEP_MS = 3600000
local function lapsed_of(holder)
  local at = redis.call('ZSCORE', lapsed_at_key, holder)
  if not at or tonumber(at) <= now - LAPSED_KEEP_MS then return {} end
  return split(redis.call('HGET', lapsed_key, holder))
end

local function set_lapsed(holder, seats, at)
  put_list(lapsed_key, holder, seats)
  if #seats == 0 then
    redis.call('ZREM', lapsed_at_key, holder)
  elseif at then
    redis.call('ZADD', lapsed_at_key, at, holder)
    keep_until(lapsed_key, at + LAPSED_KEEP_MS)
    keep_until(lapsed_at_key, at + LAPSED_KEEP_MS)
  end
end

-- Seats held again are no longer lapsed for their holder.
local function unlapse(holder, seats)
  local current = split(redis.call('HGET', lapsed_key, holder))
  if #current > 0 then set_lapsed(holder, without(current, as_set(seats))) end
end

-- Forgets the lapses of holders whose last one is an hour old, a few at a time.
local function prune_lapsed()
  local old = redis.call('ZRANGEBYSCORE', lapsed_at_key, '-inf', now - LAPSED_KEEP_MS,
                         'LIMIT', 0, 100)
  if #old > 0 then
    redis.call('HDEL', lapsed_key, unpack(old))
    redis.call('ZREM', lapsed_at_key, unpack(old))
  end
end

-- Releases every hold whose deadline has passed, as one `expire` event per
-- chunk. Idempotent: a second run finds nothing due and appends nothing.
local function expire_due()
  local expired = 0
  while true do
    local due = redis.call('ZRANGEBYSCORE', exp_key, '-inf', now, 'LIMIT', 0, 500)
    if #due == 0 then
      if expired > 0 then prune_lapsed() end
      return expired
    end
    local holders = drop_holds(due)
    local lapses, order = {}, {}  -- holder -> its seats that lapsed now
    for _, seat in ipairs(due) do
      local holder = holders[seat]
      if holder then
        if not lapses[holder] then lapses[holder] = {}; order[#order + 1] = holder end
        lapses[holder][#lapses[holder] + 1] = seat
      end
    end
    for _, holder in ipairs(order) do
      set_lapsed(holder, with(lapsed_of(holder), lapses[holder]), now)
    end
    redis.call('ZREM', exp_key, unpack(due))
    append('expire', due)
    expired = expired + #due
  end
end

-- The waiting room's gate (issue 16): nil when `holder` may hold now, else
-- the refusal {'not_admitted', now, {}, opens_at}: before the on-sale time
-- (opens_at > 0), or, with the waiting room on, without a live admission
-- (opens_at 0). A live admission is renewed: it ends no sooner than one
-- admission lifetime from now, so it lasts while the buyer is active.
-- A showtime with no sale settings costs one HMGET of a missing key.
local function admission_refusal(holder)
  local sale = redis.call('HMGET', sale_key, 'on', 'open_at', 'ttl')
  if not sale[1] then return nil end
  local opens_at = tonumber(sale[2]) or 0
  if now < opens_at then return {'not_admitted', now, {}, opens_at} end
  if sale[1] ~= '1' then return nil end
  local ends = tonumber(redis.call('ZSCORE', adm_key, holder))
  if not ends or ends <= now then return {'not_admitted', now, {}, 0} end
  local renewed = now + (tonumber(sale[3]) or 0)
  if renewed > ends then redis.call('ZADD', adm_key, renewed, holder) end
  return nil
end

local expired_now = expire_due()
