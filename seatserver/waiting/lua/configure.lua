-- configure: write the showtime's sale settings (what PostgreSQL holds).
--   ARGV[1] '1': waiting room on, '0': off
--   ARGV[2] on-sale time (ms; 0: none)
--   ARGV[3] admissions per minute (0: none)   ARGV[4] active cap (0: none)
--   ARGV[5] admission lifetime (ms)
--   ARGV[6] when the queue's keys may go (ms: a while after the showtime)
--   ARGV[7] '': an admin's change, just saved (counted in `changes`); else
--           a periodic re-read, written only if `changes` is still this
--           count, read before PostgreSQL was: a change saved and written
--           meanwhile (on any instance) is newer than what it read
-- Returns {'ok', now} or {'kept', now} (a re-read a change overtook: the
-- next one will see it). The queue's state (places, admissions, the rate's
-- bucket, the fencing counter) is kept: the operator changes settings live.
local seen = ARGV[7]
if seen ~= '' and number(redis.call('HGET', sale_key, 'changes')) ~= tonumber(seen) then
  return {'kept', now}
end
redis.call('HSET', sale_key, 'on', ARGV[1], 'open_at', ARGV[2], 'rate', ARGV[3],
           'cap', ARGV[4], 'ttl', ARGV[5])
if seen == '' then redis.call('HINCRBY', sale_key, 'changes', 1) end
local keep = tonumber(ARGV[6])
for _, key in ipairs({sale_key, adm_key, queue_key, pre_key, seen_key}) do
  redis.call('PEXPIREAT', key, keep)
end
return {'ok', now}
