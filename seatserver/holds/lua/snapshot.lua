-- snapshot: the showtime's seat state and the stream offset it corresponds to.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id whose own holds to include, or '' for none
-- Returns {'ok', now, offset, {held seats}, {booked seats}, {seat, deadline, ...},
--          epoch, {held seat, deadline, ...}, {blocked seats}}: the holder's
-- own holds, then everyone's deadlines (what "frees in m:ss" counts down
-- to), then the seats blocked off online sale.
-- offset is the id of the stream's last entry ('0-0' for an empty stream):
-- the state is exactly what the events up to and including it produce. The
-- epoch is the stream's, started here if it has none yet (see _prelude.lua).

local holder = ARGV[2]
local deadlines = redis.call('ZRANGE', exp_key, 0, -1, 'WITHSCORES')
local held = {}
for i = 1, #deadlines, 2 do held[#held + 1] = deadlines[i] end
local booked = redis.call('SMEMBERS', booked_key)
local mine = {}
if holder ~= '' then
  for _, seat in ipairs(split(redis.call('HGET', mine_key, holder))) do
    local deadline = redis.call('ZSCORE', exp_key, seat)
    if deadline and redis.call('HGET', held_key, seat) == holder then
      mine[#mine + 1] = seat
      mine[#mine + 1] = tonumber(deadline)
    end
  end
end
local last = redis.call('XREVRANGE', ev_key, '+', '-', 'COUNT', 1)
local offset = '0-0'
if last[1] then offset = last[1][1] end
return {'ok', now, offset, held, booked, mine, stream_epoch(), deadlines,
        redis.call('SMEMBERS', blocked_key)}
