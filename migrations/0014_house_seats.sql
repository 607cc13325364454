-- House seats and the box office (issue 18).
--
-- A blocked seat is kept off online sale for one showtime: house seats,
-- press, a broken seat. PostgreSQL is the record; Redis mirrors the set
-- (blocked:{st:<id>}) so that the hold scripts refuse or skip it in the same
-- atomic step as every other check. A row lives while the seat is blocked:
-- unblocking or selling it at the counter deletes it (the audit log keeps
-- the history).
CREATE TABLE seat_blocks (
    showtime_id bigint NOT NULL REFERENCES showtimes (id) ON DELETE CASCADE,
    seat_id     text NOT NULL CHECK (length(seat_id) BETWEEN 1 AND 16),
    reason      text NOT NULL CHECK (reason IN ('house', 'press', 'broken', 'other')),
    note        text CHECK (length(note) <= 200),
    blocked_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    blocked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (showtime_id, seat_id),
    CHECK (reason <> 'other' OR note IS NOT NULL)
);

-- Box-office staff sell at the counter; like admins they prove a second factor.
ALTER TABLE users DROP CONSTRAINT users_kind_check;
ALTER TABLE users ADD CONSTRAINT users_kind_check
    CHECK (kind IN ('guest', 'customer', 'admin', 'kiosk', 'box_office'));

-- How a payment was taken: online through a provider, or at the counter in
-- cash or by a card presented there. Counter payments are captured at once.
ALTER TABLE payments ADD COLUMN method text NOT NULL DEFAULT 'online'
    CHECK (method IN ('online', 'cash', 'card_present'));
-- Which staff member took a counter payment.
ALTER TABLE payments ADD COLUMN taken_by bigint REFERENCES users (id) ON DELETE SET NULL;
