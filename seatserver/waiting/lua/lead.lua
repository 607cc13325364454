-- lead: take or keep the right to admit the showtime's buyers.
--   ARGV[1] the caller's token ('' when it has none)   ARGV[2] lease (ms)
-- Returns {'leader', now, token} (the lease renewed, or the lock taken with
-- a new token: a fencing token, above every one handed out before, that
-- admit.lua and shuffle.lua demand) or {'follower', now}.
-- The counter lives in the sale hash, so a lock that lapsed and is taken
-- again never repeats a token: a leader that stalled past its lease finds
-- its token refused and never admits beside its successor.
local token, lease = ARGV[1], tonumber(ARGV[2])
if leading(token) then
  redis.call('PEXPIRE', lock_key, lease)
  return {'leader', now, token}
end
if redis.call('EXISTS', lock_key) == 1 then return {'follower', now} end
local fresh = tostring(redis.call('HINCRBY', sale_key, 'fence', 1))
redis.call('SET', lock_key, fresh, 'PX', lease)
return {'leader', now, fresh}
