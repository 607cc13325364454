-- Bookings follow-ups: tickets admitted at the door, and outbox messages
-- parked as dead after too many failed deliveries.

-- A ticket admits once: the first scan at the door inserts the row, a second
-- finds it and says when and by whom the ticket was already used.
CREATE TABLE ticket_scans (
    booking_id  bigint PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    admitted_at timestamptz NOT NULL DEFAULT now(),
    admitted_by text NOT NULL,      -- 'user:<id>' of the door's scanner
    remote      text
);

-- A message whose deliveries kept failing is parked (dead_at set) with its
-- last error instead of being retried for ever; `seatserver outbox retry`
-- puts it back in the queue.
ALTER TABLE outbox ADD COLUMN dead_at timestamptz;

DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id)
    WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead_idx ON outbox (dead_at) WHERE dead_at IS NOT NULL;
