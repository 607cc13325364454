-- Accounts: users with roles, e-mail and password; one-time tokens for
-- e-mail confirmation and password reset.
--
-- A guest is a user row with no e-mail and no password; signing up turns that
-- same row into a customer, so whatever the guest holds or booked stays theirs.

ALTER TABLE users DROP CONSTRAINT users_kind_check;
ALTER TABLE users ADD CONSTRAINT users_kind_check
    CHECK (kind IN ('guest', 'customer', 'admin', 'kiosk'));

ALTER TABLE users
    -- As the person typed it; uniqueness and look-ups ignore case (index below).
    ADD COLUMN email          text CHECK (length(email) BETWEEN 3 AND 254
                                          AND email ~ '^[^@\s]+@[^@\s]+$'),
    ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
    ADD COLUMN name           text CHECK (length(name) BETWEEN 1 AND 100),
    ADD COLUMN phone          text CHECK (phone ~ '^\+?[0-9][0-9 ()./-]{3,23}$'),
    -- An argon2id hash in its PHC string form ($argon2id$v=19$m=...).
    ADD COLUMN password_hash  text CHECK (password_hash LIKE '$argon2id$%'),
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now();

-- An account can log in, so it has both; a guest has neither.
ALTER TABLE users ADD CONSTRAINT users_account_check CHECK (
    CASE WHEN kind = 'guest' THEN email IS NULL AND password_hash IS NULL
         ELSE email IS NOT NULL AND password_hash IS NOT NULL END);

CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;

-- A token is handed out once (in a message) and only its sha256 is kept, as
-- for sessions. `email` is the address the message went to: for
-- verify_email, the address that becomes the account's when it is confirmed.
CREATE TABLE account_tokens (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK (expires_at > created_at)
);

-- A new token of a purpose replaces the user's unused ones of that purpose.
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose) WHERE used_at IS NULL;
