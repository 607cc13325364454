-- lapsed: the seats whose hold by a holder expired lately (within the hour
-- after its last lapse) and that it has not held since: what tells "your hold
-- expired" from "you held nothing".
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] holder id
-- Returns {'ok', now, {seats}}. Holds due now are expired first, like in
-- every script, so a deadline just passed counts as lapsed.

return {'ok', now, lapsed_of(ARGV[2])}
