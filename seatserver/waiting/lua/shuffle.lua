-- shuffle: open sales, the pre-queue going ahead of the queue in the order
-- the leader drew (uniformly at random, from a secure source, in Python:
-- Redis' math.random is seeded the same on every script call).
--   ARGV[1] fencing token   ARGV[2..] the pre-queue, every member once
-- Returns {'ok', now, n} or {'not_leader', now} or {'stale', now} (the
-- list is not the pre-queue: read it again; cannot happen once the on-sale
-- time passed, since arrivals then join the queue, but is checked anyway).
-- The i-th of n gets place i - n - 1 (-n .. -1), ahead of every arrival.
if not leading(ARGV[1]) then return {'not_leader', now} end
local n = #ARGV - 1
local sale = redis.call('HMGET', sale_key, 'opened')
if sale[1] == '1' then return {'stale', now} end
if redis.call('ZCARD', pre_key) ~= n then return {'stale', now} end
local seen = {}
for i = 2, #ARGV do
  local holder = ARGV[i]
  if seen[holder] or not redis.call('ZSCORE', pre_key, holder) then return {'stale', now} end
  seen[holder] = true
end
local chunk = {}
for i = 2, #ARGV do
  chunk[#chunk + 1] = (i - 1) - n - 1
  chunk[#chunk + 1] = ARGV[i]
  if #chunk >= 1000 or i == #ARGV then
    redis.call('ZADD', queue_key, unpack(chunk))
    chunk = {}
  end
end
redis.call('DEL', pre_key)
redis.call('HSET', sale_key, 'opened', '1', 'last', now, 'credit', '0')
return {'ok', now, n}
