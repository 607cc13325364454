-- Where a booking's confirmation and ticket link go (issue 17): the address a
-- guest gave at checkout, or the account's address when the buyer was signed
-- in (copied, so the message goes where the buyer saw it would). A phone is
-- optional. Bookings made before this have neither.
ALTER TABLE bookings
    ADD COLUMN contact_email text CHECK (length(contact_email) BETWEEN 3 AND 254
                                         AND contact_email ~ '^[^@\s]+@[^@\s]+$'),
    ADD COLUMN contact_phone text CHECK (contact_phone ~ '^\+?[0-9][0-9 ()./-]{3,23}$');
