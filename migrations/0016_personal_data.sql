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
