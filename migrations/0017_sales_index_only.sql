-- The sales reports (seatserver/sales/store.py) from indexes alone, at a million bookings.
--
-- With 0013's indexes a showtime's sums found its bookings by index, then each
-- booking's seats by booking_seats' primary key: one heap fetch per seat,
-- scattered over the table, ~0.7 ms a showtime (a month's report 7.9 s in
-- bench.salesreport, docs/performance.md). Here every figure a report sums is
-- in an index keyed by showtime, so each is read by index-only scans: a
-- showtime's booked bookings (their ids and amounts), its seats (booking, type,
-- amount) joined to them by hash, and the refunded payments of its bookings.
-- Nothing is precomputed: the sums are those of the rows as they are, so they
-- stay exact and checkouts take no extra lock.

-- A seat's bookings read by showtime: its history (showtime, seat) as 0013's
-- index served it, and a showtime's sums (booking, type, amount) without the heap.
CREATE INDEX booking_seats_showtime_sales_idx ON booking_seats (showtime_id, seat_id)
    INCLUDE (booking_id, seat_type, amount);
DROP INDEX booking_seats_showtime_seat_idx;

-- A showtime's bookings with what the sums need: the id (to join its seats
-- and payments), status, amount and currency. A unique key, so that seats can
-- refer to it (below); it replaces 0013's (showtime_id, status) index, which
-- lacked the id.
ALTER TABLE bookings ADD CONSTRAINT bookings_showtime_sales_key UNIQUE (showtime_id, id)
    INCLUDE (status, amount, currency);
DROP INDEX bookings_showtime_status_idx;

-- Refunded payments (a few of all) by booking, with how much.
CREATE INDEX payments_refunded_idx ON payments (booking_id) INCLUDE (refunded_amount)
    WHERE refunded_amount > 0;

-- A seat's showtime is its booking's: the reports read a showtime's seats by
-- booking_seats.showtime_id and its bookings by bookings.showtime_id, and join
-- them by booking; this key makes that the same set of seats as joining by
-- booking alone did, whatever is written. It replaces the key on booking_id
-- alone (same cascade), so a seat written still checks one key. Existing rows
-- are checked as it is added (a few seconds at two million seats).
ALTER TABLE booking_seats
    ADD CONSTRAINT booking_seats_booking_showtime_fkey FOREIGN KEY (booking_id, showtime_id)
        REFERENCES bookings (id, showtime_id) ON DELETE CASCADE;
ALTER TABLE booking_seats DROP CONSTRAINT booking_seats_booking_id_fkey;

-- Index-only scans skip the heap only on pages the visibility map marks all
-- visible, which vacuum sets. By default autovacuum waits for a fifth of a
-- table to change; at a million bookings that leaves the week being sold
-- (its rows new or just updated) to heap fetches for long. Vacuum these
-- three after 2% instead (a vacuum of pages already all visible is cheap).
ALTER TABLE bookings SET (autovacuum_vacuum_scale_factor = 0.02,
                          autovacuum_vacuum_insert_scale_factor = 0.02);
ALTER TABLE booking_seats SET (autovacuum_vacuum_scale_factor = 0.02,
                               autovacuum_vacuum_insert_scale_factor = 0.02);
ALTER TABLE payments SET (autovacuum_vacuum_scale_factor = 0.02,
                          autovacuum_vacuum_insert_scale_factor = 0.02);
