-- position: where a client or a feed may resume from, read in one step.
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] an offset (a valid stream id, checked by the caller)
-- Returns {'ok', now, epoch, 1 when the entry at the offset is in the stream
-- else 0}. The epoch is the stream's, started here if it has none yet or the
-- server changed (see _prelude.lua): a position is only worth resuming from
-- when its epoch is the one returned and its entry is still there.

local entry = redis.call('XRANGE', ev_key, ARGV[2], ARGV[2], 'COUNT', 1)
local present = 0
if entry[1] then present = 1 end
return {'ok', now, stream_epoch(), present}
