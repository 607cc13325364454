-- Sale settings per showtime (issue 16, "A fair waiting room"). A showtime
-- without a row here gets the deployment's defaults (SEATSERVER_WAITING_ROOM,
-- SEATSERVER_ADMISSION_RATE, SEATSERVER_ACTIVE_BUYERS, SEATSERVER_ADMISSION_TTL).
--   on_sale_at: seats are sold from then (NULL: at once). Buyers who arrive
--     before it wait in a pre-queue, shuffled at random when sales open.
--   waiting_room: buyers are admitted from a queue before they may hold.
--   admission_rate: buyers admitted per minute (0: no rate, the cap paces).
--   active_cap: buyers admitted and active at once (0: no cap, the rate paces).
--   admission_ttl_s: how long an admission lasts unused; every hold renews it.
-- The queue itself lives in Redis (waiting/lua); this is what it obeys.
CREATE TABLE showtime_sales (
    showtime_id     bigint PRIMARY KEY REFERENCES showtimes (id) ON DELETE CASCADE,
    on_sale_at      timestamptz,
    waiting_room    boolean NOT NULL,
    admission_rate  integer NOT NULL CHECK (admission_rate BETWEEN 0 AND 1000000),
    active_cap      integer NOT NULL CHECK (active_cap BETWEEN 0 AND 1000000),
    admission_ttl_s integer NOT NULL CHECK (admission_ttl_s BETWEEN 60 AND 86400),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT waiting_room OR admission_rate > 0 OR active_cap > 0)
);
