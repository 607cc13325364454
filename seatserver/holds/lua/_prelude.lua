-- Prelude shared by every hold script; the engine prepends it when loading.
--
-- Every script takes the same leading keys and arguments:
--   KEYS[1] exp:{st:<id>}     zset: held seat -> deadline (ms, Redis clock)
--   KEYS[2] booked:{st:<id>}  set:  booked seats
--   KEYS[3] ev:{st:<id>}      stream: the showtime's event log
--   KEYS[4] epoch:{st:<id>}   string: the stream's epoch (see stream_epoch)
--   ARGV[1] seat key prefix   "seat:{st:<id>}:" (a seat key is prefix .. seat id)
--   ARGV[2] mine key prefix   "mine:{st:<id>}:" (a holder's set is prefix .. holder)
--   ARGV[3] stream max length (approximate trim)
-- Seat and holder keys are derived from the prefixes because the expiry step
-- only learns which seats are due while it runs. They share the showtime's
-- hash tag, so every key a script touches lives in one slot.
--
-- The deadline clock is Redis' own TIME, never the caller's. Running the due
-- expiries first means no script ever acts on a hold whose deadline passed.

local exp_key, booked_key, ev_key, epoch_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local seat_prefix, mine_prefix, maxlen = ARGV[1], ARGV[2], ARGV[3]
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
local function append(kind, seats, extra)
  local args = {'XADD', ev_key, 'MAXLEN', '~', maxlen, '*',
                'k', kind, 's', table.concat(seats, ','), 'x', stream_epoch()}
  if extra then
    for i = 1, #extra do args[#args + 1] = extra[i] end
  end
  return redis.call(unpack(args))
end

-- Drops whatever hold a seat has (its key and its holder's set entry; the
-- caller removes it from the expiry set). Returns the holder, or false.
local function drop_hold(seat)
  local key = seat_prefix .. seat
  local holder = redis.call('GET', key)
  if holder then
    redis.call('DEL', key)
    redis.call('SREM', mine_prefix .. holder, seat)
  end
  return holder
end

-- A holder's lapsed set: seats whose hold by them ran out (expired) and that
-- they have not held since, kept an hour after the last lapse. Checkout tells
-- "your hold expired" from "you hold nothing" by it. The key is derived like
-- the holder's own set (see redis_keys.lapsed).
local LAPSED_KEEP_MS = 3600000
local function lapsed_key(holder)
  return mine_prefix .. holder .. ':lapsed'
end

-- Releases every hold whose deadline has passed, as one `expire` event per
-- chunk. Idempotent: a second run finds nothing due and appends nothing.
local function expire_due()
  local expired = 0
  while true do
    local due = redis.call('ZRANGEBYSCORE', exp_key, '-inf', now, 'LIMIT', 0, 500)
    if #due == 0 then return expired end
    for _, seat in ipairs(due) do
      local holder = drop_hold(seat)
      if holder then
        redis.call('SADD', lapsed_key(holder), seat)
        redis.call('PEXPIRE', lapsed_key(holder), LAPSED_KEEP_MS)
      end
    end
    redis.call('ZREM', exp_key, unpack(due))
    append('expire', due)
    expired = expired + #due
  end
end

local expired_now = expire_due()
