-- Seating rules per showtime (issue 15), checked by the hold scripts in Redis
-- (holds/lua/_seating.lua), carried there in the showtime's seat geometry.
--   no_orphans: a hold may not leave a single free seat alone between taken
--     seats, or between a taken seat and an aisle, gap or row end, unless
--     every choice of as many seats in that row would. On by default.
--   companions_alone: companion seats are sold to anyone on their own. Off
--     by default: a companion seat goes only with its wheelchair space (in
--     the same hold, or to the holder of the space).
ALTER TABLE showtimes
    ADD COLUMN no_orphans       boolean NOT NULL DEFAULT true,
    ADD COLUMN companions_alone boolean NOT NULL DEFAULT false;
