-- expire: release every hold of the showtime whose deadline has passed.
--   KEYS, ARGV[1]  see _prelude.lua (the prelude does the work)
-- Returns {'ok', now, next deadline or -1, seats expired by this call}.
-- Safe to run from several instances at once: each expiry is recorded once.

local next_due = redis.call('ZRANGE', exp_key, 0, 0, 'WITHSCORES')
local next_deadline = -1
if next_due[2] then next_deadline = tonumber(next_due[2]) end
return {'ok', now, next_deadline, expired_now}
