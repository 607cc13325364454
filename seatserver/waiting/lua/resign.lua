-- resign: give the lock up (an instance stopping), if it is still ours.
--   ARGV[1] token
-- Returns {'ok', now, 1 when it was ours, else 0}.
if leading(ARGV[1]) then
  redis.call('DEL', lock_key)
  return {'ok', now, 1}
end
return {'ok', now, 0}
