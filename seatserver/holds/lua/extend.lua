-- extend: move every hold a holder has in the showtime later by the hold
-- time, but not past the end of its run of holds (WCAG 2.2.1: the buyer is
-- warned and may ask for more time with a simple action, within a limit).
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id
--   ARGV[3] hold ttl (ms): how much later each deadline moves
--   ARGV[4] longest a run of holds may last (ms, > 0), from its beginning
--   ARGV[5] backstop (ms) the showtime's hold keys outlive the deadline by
-- Returns {'ok', now, {seat, deadline, ...}, limit, offset, epoch}
--      or {'nothing_held', now}
--      or {'extend_limit', now, limit}: no deadline could move later.
-- Each seat's deadline becomes min(deadline + ttl, limit), where limit is
-- when the holder's run began plus ARGV[4]; a deadline already at or past
-- the limit (checkout moved it into the payment window) is left alone, never
-- moved earlier. The seats that moved are appended as `hold` events with their
-- new deadline (one per distinct deadline), exactly as a re-hold of them
-- would be: every instance, old or new, and every client reads them as seats
-- still held, with the deadline they now have.

local holder, ttl = ARGV[2], tonumber(ARGV[3])
local hold_max, backstop = tonumber(ARGV[4]), tonumber(ARGV[5])

local mine = {}
for _, seat in ipairs(split(redis.call('HGET', mine_key, holder))) do
  if redis.call('HGET', held_key, seat) == holder then
    local deadline = redis.call('ZSCORE', exp_key, seat)
    if deadline then mine[#mine + 1] = {seat, tonumber(deadline)} end
  end
end
if #mine == 0 then return {'nothing_held', now} end

local began = tonumber(redis.call('HGET', run_key, holder))
if not began then
  -- Holds made before runs were recorded: their run begins now.
  began = now
  redis.call('HSET', run_key, holder, began)
end
local limit = began + hold_max

local groups, order, latest = {}, {}, 0  -- new deadline -> its seats
local deadlines = {}
for _, held in ipairs(mine) do
  local seat, deadline = held[1], held[2]
  local moved = math.min(deadline + ttl, limit)
  if moved > deadline then
    redis.call('ZADD', exp_key, moved, seat)
    if not groups[moved] then groups[moved] = {}; order[#order + 1] = moved end
    groups[moved][#groups[moved] + 1] = seat
    deadline = moved
  end
  deadlines[#deadlines + 1] = seat
  deadlines[#deadlines + 1] = deadline
  if deadline > latest then latest = deadline end
end
if #order == 0 then return {'extend_limit', now, limit} end

local until_ms = latest + backstop
for _, key in ipairs({held_key, mine_key, run_key, addr_key, addrof_key}) do
  if redis.call('EXISTS', key) == 1 then keep_until(key, until_ms) end
end
table.sort(order)
local offset
for _, deadline in ipairs(order) do
  offset = append('hold', groups[deadline], {'e', deadline, 'h', holder})
end
return {'ok', now, deadlines, limit, offset, stream_epoch()}
