-- admit: one step of the admitting task (the lock's holder only).
--   ARGV[1] fencing token (lead.lua's)   ARGV[2] lease (ms)
--   ARGV[3] presence grace (ms): a buyer not seen for longer has left and
--           is dropped from the queue when its turn comes (see _queue.lua)
-- Returns {'not_leader', now} (the token is not the lock's: stop), or
-- {'idle', now} (waiting room off, or before the on-sale time), or
-- {'shuffle', now, {pre-queue, by arrival}} (sales opened: shuffle them,
-- shuffle.lua), or {'ok', now, {holders admitted, in order}, active, waiting}.
-- Admits from the front of the queue as many as the rate's bucket holds
-- (refilled at `rate` a minute, at most one second's worth and at least one
-- admission banked) and the cap leaves room for (live admissions below
-- `cap`). Each admission ends `ttl` from now unless a hold renews it.
-- Popped and admitted in one step: nobody is admitted twice, nobody lost.
-- Returns also {'ok', ..., left}: how many were dropped as gone.
local token, lease, grace = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if not leading(token) then return {'not_leader', now} end
redis.call('PEXPIRE', lock_key, lease)
local sale = redis.call('HMGET', sale_key, 'on', 'open_at', 'opened', 'rate', 'cap', 'ttl',
                        'credit', 'last')
if sale[1] ~= '1' or now < number(sale[2]) then return {'idle', now} end
if sale[3] ~= '1' then
  if redis.call('ZCARD', pre_key) > 0 then
    return {'shuffle', now, redis.call('ZRANGE', pre_key, 0, -1)}
  end
  redis.call('HSET', sale_key, 'opened', '1')
end
local rate, cap, ttl = number(sale[4]), number(sale[5]), number(sale[6])
redis.call('ZREMRANGEBYSCORE', adm_key, '-inf', now)
local active = redis.call('ZCARD', adm_key)
local waiting = redis.call('ZCARD', queue_key)
-- At most 1000 a step (a cap-only room of thousands fills over a few steps).
local room = math.min(waiting, 1000)
if cap > 0 then room = math.min(room, math.max(0, cap - active)) end
local credit = 0
if rate > 0 then
  local last = tonumber(sale[8]) or now
  credit = number(sale[7]) + math.max(0, now - last) * rate / 60000
  credit = math.min(credit, math.max(1, rate / 60))
  room = math.min(room, math.floor(credit))
end
local admitted, scored, left = {}, {}, 0
-- Those gone are popped too, and more are popped in their stead (at most
-- 1000 a step all told, so a queue most of whom left costs a few steps).
local budget = 1000
while #admitted < room and budget > 0 do
  local popped = redis.call('ZPOPMIN', queue_key, math.min(room - #admitted, budget))
  if #popped == 0 then break end
  budget = budget - #popped / 2
  for i = 1, #popped, 2 do
    local holder = popped[i]
    local seen = tonumber(redis.call('ZSCORE', seen_key, holder))
    redis.call('ZREM', seen_key, holder)
    if seen and seen >= now - grace then
      admitted[#admitted + 1] = holder
      scored[#scored + 1] = now + ttl
      scored[#scored + 1] = holder
    else
      left = left + 1
    end
  end
end
waiting = waiting - #admitted - left
if #admitted > 0 then
  redis.call('ZADD', adm_key, unpack(scored))
  redis.call('HINCRBY', sale_key, 'admitted', #admitted)
  credit = credit - #admitted
  active = active + #admitted
end
redis.call('HSET', sale_key, 'credit', tostring(credit), 'last', now)
return {'ok', now, admitted, active, waiting, left}
