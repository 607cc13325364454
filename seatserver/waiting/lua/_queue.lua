-- Prelude shared by the waiting room's scripts; the engine prepends it.
--
-- A showtime's waiting room lives in the showtime's hash slot, beside its
-- seats, so the hold scripts check admissions in their own step
-- (holds/lua/_prelude.lua, admission_refusal). Every script declares the
-- same keys (redis_keys.queue_keys builds them, in this order):
--   KEYS[1] qm:{st:<id>}   hash: sale settings and waiting room state:
--                          on ('1': waiting room), open_at (ms, 0: none),
--                          rate (admissions per minute, 0: none), cap
--                          (active admissions at once, 0: none), ttl (ms an
--                          admission lasts unused), opened ('1' once the
--                          pre-queue was shuffled into the queue), seq
--                          (arrival numbers), fence (last fencing token),
--                          credit and last (the rate's bucket), admitted
--                          (admissions ever made), changes (admin changes
--                          written, configure.lua)
--   KEYS[2] adm:{st:<id>}  zset: holder id -> end of its admission (ms)
--   KEYS[3] q:{st:<id>}    zset: holder id -> place (lowest first): the
--                          shuffled pre-queue at -n..-1, then arrivals by seq
--   KEYS[4] qpre:{st:<id>} zset: holder id -> arrival number, before opening
--   KEYS[5] ql:{st:<id>}   string, PX lease: the admitting instance's token
--   KEYS[6] qseen:{st:<id>} zset: holder id -> when an instance last saw it
--                          connected while it waited (ms; presence)
--   KEYS[7] mine:{st:<id>} the hold scripts' hash: holder id -> seats it
--                          holds (read only: a buyer holding seats is busy)
-- Times are Redis' own clock (TIME), as the hold scripts'.
--
-- Presence: a buyer who waits is seen (join.lua, and status.lua on every
-- tick of the instance it is connected to). One not seen for the grace
-- (admit.lua's ARGV[3]) when its turn comes has left: it is dropped, not
-- admitted, and takes no place an active buyer could have. An admitted
-- buyer whose last socket closes while it holds nothing keeps its
-- admission for the grace only (leave.lua): time enough to reload the page.

local sale_key, adm_key, queue_key, pre_key, lock_key, seen_key, mine_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function number(value) return tonumber(value) or 0 end

-- Where a holder is: {'admitted', ends} | {'waiting', position} (1: next)
-- | {'before_sale', 0} (in the pre-queue: no place until the shuffle)
-- | {'none', 0}. Before the shuffle, later arrivals (already in the queue)
-- count the whole pre-queue ahead of them.
local function place_of(holder, opened)
  local ends = tonumber(redis.call('ZSCORE', adm_key, holder))
  if ends and ends > now then return {'admitted', ends} end
  if redis.call('ZSCORE', pre_key, holder) then return {'before_sale', 0} end
  local rank = redis.call('ZRANK', queue_key, holder)
  if rank then
    local ahead = opened and 0 or redis.call('ZCARD', pre_key)
    return {'waiting', ahead + rank + 1}
  end
  return {'none', 0}
end

-- The lock is ours: the fencing token we were given when we took it.
local function leading(token)
  return token ~= '' and redis.call('GET', lock_key) == token
end
