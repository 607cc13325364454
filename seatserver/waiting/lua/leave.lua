-- leave: a buyer's last socket on an instance closed.
--   ARGV[1] holder id   ARGV[2] presence grace (ms)
-- Returns {'ok', now, ends} (its admission now ends at `ends`; 0: none).
-- An admitted buyer holding no seat here keeps its admission for the grace
-- only, so a closed tab does not keep a place among the active buyers for
-- a whole admission lifetime; one holding seats (choosing, or paying: its
-- seats are held into the payment window) keeps it whole. Its next hold
-- renews it as always. A waiting buyer keeps its place: presence (status,
-- join) decides whether it is still there when its turn comes.
local holder, grace = ARGV[1], tonumber(ARGV[2])
local ends = tonumber(redis.call('ZSCORE', adm_key, holder))
if not ends or ends <= now then return {'ok', now, 0} end
if redis.call('HEXISTS', mine_key, holder) == 1 then return {'ok', now, ends} end
if ends > now + grace then
  ends = now + grace
  redis.call('ZADD', adm_key, ends, holder)
end
return {'ok', now, ends}
