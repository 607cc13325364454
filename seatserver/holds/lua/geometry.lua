-- geometry: replace the showtime's seat geometry (holds/geometry.py).
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] the version; ARGV[3..] field, value pairs of that version
-- Returns {'ok', now}. The whole hash is replaced, so no field of an older
-- layout (a seat since removed) lingers. Kept a day after its last write: a
-- hold that finds it gone (or another version) asks for it again.
redis.call('DEL', geo_key)
redis.call('HSET', geo_key, 'v', ARGV[2], unpack(ARGV, 3))
redis.call('PEXPIRE', geo_key, 86400000)
return {'ok', now}
