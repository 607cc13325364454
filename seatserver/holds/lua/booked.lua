-- booked: the showtime's booked seats, each with the reference of the booking
-- that bought it, read in one step (reconciliation compares them with
-- PostgreSQL). A script rather than MULTI: one atomic read that goes the same
-- way on a single Redis and on a cluster.
--   KEYS, ARGV[1]  see _prelude.lua
-- Returns {'ok', now, {seat, reference, seat, reference, ...}}, reference ''
-- when none is recorded.

local flat = {}
for _, seat in ipairs(redis.call('SMEMBERS', booked_key)) do
  flat[#flat + 1] = seat
  flat[#flat + 1] = redis.call('HGET', refs_key, seat) or ''
end
return {'ok', now, flat}
