-- Money hardening (issue 13): generated signing keys, one payment fact per
-- provider order and outcome, and the simulated provider's settle time.

-- Signing keys generated when none is configured (SEATSERVER_PAYMENT_SECRET,
-- SEATSERVER_TICKET_SECRET): every instance reads them here, so any number of
-- instances agree with no configuration. One current key per name (signs and
-- verifies; valid_until NULL); a key replaced by `seatserver secrets rotate`
-- still verifies until its valid_until (the grace period), then never again.
CREATE TABLE server_secrets (
    name        text NOT NULL CHECK (name IN ('payment', 'ticket')),
    version     integer NOT NULL CHECK (version > 0),
    secret      text NOT NULL CHECK (length(secret) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    valid_until timestamptz,
    PRIMARY KEY (name, version)
);

CREATE UNIQUE INDEX server_secrets_one_current ON server_secrets (name)
    WHERE valid_until IS NULL;

-- The outcome a payment event states about its order (captured, failed,
-- expired): the signed return and the webhooks of one capture are one fact,
-- recorded once, whichever arrives first. NULL for events that are not an
-- order's outcome (refunds) and for rows from before this migration; those
-- are deduplicated by the provider's event id alone.
ALTER TABLE payment_events ADD COLUMN fact text;

CREATE UNIQUE INDEX payment_events_one_fact ON payment_events (provider, order_id, fact)
    WHERE fact IS NOT NULL;

-- When a simulated order was paid, declined or timed out: its signed return
-- carries that time and is never signed anew, so the freshness window bounds
-- how long a return can be replayed.
ALTER TABLE sim_provider_orders ADD COLUMN settled_at timestamptz;

UPDATE sim_provider_orders SET settled_at = created_at WHERE status <> 'open';
