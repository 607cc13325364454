-- orphans: the lone seats a holder's seats make (checkout's re-check).
--   KEYS, ARGV[1]  see _prelude.lua
--   ARGV[2] the geometry version the caller built
--   ARGV[3..] the seats (the holder's basket)
-- Returns {'ok', now, {lone seats}}: free seats left alone because these
-- seats are taken, where some other way of taking as many seats in their
-- row would leave none (_seating.lua); or {'geometry', now}. Changes nothing.
local rules = geometry_rules(ARGV[2])
if not rules then return {'geometry', now} end
local seats = {}
for i = 3, #ARGV do seats[#seats + 1] = ARGV[i] end
if not rules.orphans or #seats == 0 then return {'ok', now, {}} end
return {'ok', now, orphans_of(seats, places_of(seats))}
