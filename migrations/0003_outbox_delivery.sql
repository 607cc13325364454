-- Delivery state of outbox messages: a worker on every instance takes due
-- messages with FOR UPDATE SKIP LOCKED, so each is sent by one of them, and
-- retries failures with a capped back-off.
ALTER TABLE outbox
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error      text;

DROP INDEX outbox_unsent_idx;
-- What the worker asks for: unsent messages whose next attempt is due.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE sent_at IS NULL;
