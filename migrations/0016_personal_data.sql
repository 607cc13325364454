-- Personal data (issue 19): erased accounts.
--
-- An erased account keeps its row, because its bookings and payments are kept
-- for accounting and point at it; everything that names the person (e-mail,
-- name, phone, password) is gone, and so are its sessions, tokens and reviews
-- (seatserver.accounts.privacy). It keeps its kind, so reports still tell a
-- customer's sale from a guest's, and it can never log in again (no e-mail, no
-- password, disabled). Its address is free for a new sign-up at once.
ALTER TABLE users ADD COLUMN erased_at timestamptz;

ALTER TABLE users DROP CONSTRAINT users_account_check;
ALTER TABLE users ADD CONSTRAINT users_account_check CHECK (
    CASE WHEN kind = 'guest' OR erased_at IS NOT NULL
         THEN email IS NULL AND password_hash IS NULL
         ELSE email IS NOT NULL AND password_hash IS NOT NULL END);

ALTER TABLE users ADD CONSTRAINT users_erased_check CHECK (
    erased_at IS NULL OR (name IS NULL AND phone IS NULL AND disabled_at IS NOT NULL));

-- Encryption at rest of names, e-mail addresses and phone numbers
-- (seatserver/personal.py). Each sealed column holds `v1:<key id>:<nonce>:<ct>`
-- bound to its field and row; e-mail addresses are found and kept unique by
-- `email_hash` (HMAC-SHA256 of the normalised address under the lookup key).
-- The clear columns stay, always NULL once a server of this version has
-- started: it seals the rows written before it, in batches, before it serves
-- (seatserver.personal_rotation.seal_clear_values).
ALTER TABLE users
    ADD COLUMN email_sealed text,
    ADD COLUMN email_hash   bytea CHECK (octet_length(email_hash) = 32),
    ADD COLUMN name_sealed  text,
    ADD COLUMN phone_sealed text;

CREATE UNIQUE INDEX users_email_hash_key ON users (email_hash) WHERE email_hash IS NOT NULL;

ALTER TABLE users DROP CONSTRAINT users_account_check;
ALTER TABLE users ADD CONSTRAINT users_account_check CHECK (
    CASE WHEN kind = 'guest' OR erased_at IS NOT NULL
         THEN email IS NULL AND email_hash IS NULL AND password_hash IS NULL
         ELSE (email IS NOT NULL OR email_hash IS NOT NULL) AND password_hash IS NOT NULL
    END);
ALTER TABLE users ADD CONSTRAINT users_sealed_email_check CHECK (
    (email_sealed IS NULL) = (email_hash IS NULL));

ALTER TABLE users DROP CONSTRAINT users_erased_check;
ALTER TABLE users ADD CONSTRAINT users_erased_check CHECK (
    erased_at IS NULL OR (name IS NULL AND phone IS NULL AND email_sealed IS NULL
                          AND name_sealed IS NULL AND phone_sealed IS NULL
                          AND disabled_at IS NOT NULL));

ALTER TABLE bookings
    ADD COLUMN contact_email_sealed text,
    ADD COLUMN contact_phone_sealed text;

ALTER TABLE account_tokens
    ALTER COLUMN email DROP NOT NULL,
    ADD COLUMN email_sealed text,
    ADD COLUMN email_hash   bytea CHECK (octet_length(email_hash) = 32),
    ADD CONSTRAINT account_tokens_email_check CHECK (
        email IS NOT NULL OR (email_sealed IS NOT NULL AND email_hash IS NOT NULL));

-- The confirmed address was written into the audit entry; it is the account's
-- address anyway, which the account row keeps (sealed).
UPDATE audit_log SET detail = detail - 'email' WHERE action = 'account.email_confirmed';

-- Generated keys (when none is configured), shared by every instance: one
-- lookup key, data keys of which one is current. `material` is the key, or
-- with SEATSERVER_PERSONAL_DATA_KEK set, the key sealed with that
-- key-encryption key (nonce || AES-GCM ciphertext).
CREATE TABLE personal_keys (
    key_id     text PRIMARY KEY CHECK (key_id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    purpose    text NOT NULL CHECK (purpose IN ('data', 'lookup')),
    material   bytea NOT NULL,
    wrapped    boolean NOT NULL,
    current    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX personal_keys_one_current ON personal_keys (purpose) WHERE current;
