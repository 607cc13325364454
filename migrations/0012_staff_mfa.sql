-- Staff security: TOTP two-factor authentication, recovery codes, sessions
-- that remember when they last proved a code, and accounts that can be disabled.
--
-- The TOTP secret has to be readable to check a code, so it is kept as is:
-- reading this table gives a second factor, never a password (see
-- docs/security.md). Recovery codes are kept as sha256 only: they are random
-- 80-bit strings, so a hash cannot be turned back into one.

-- When this session last proved a code (the log-in's second step, enrolment,
-- or a re-authentication); null: the password alone.
ALTER TABLE sessions ADD COLUMN mfa_at timestamptz;

-- A disabled account cannot log in and has no sessions.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

CREATE TABLE staff_mfa (
    user_id      bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       bytea NOT NULL CHECK (octet_length(secret) = 20),
    -- Null while enrolment waits for its first code.
    confirmed_at timestamptz,
    -- The last 30-second step whose code was accepted: a code of this step or
    -- an earlier one is refused, so every code works once.
    last_step    bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mfa_recovery_codes (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
