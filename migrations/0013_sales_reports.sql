-- Sales reports for the operator (seatserver/sales): what each showtime sold,
-- per film and day, and one seat's history. Without these, every report
-- read all of `bookings` (nothing indexed it by showtime) and a seat's
-- history all of `booking_seats` (only its active rows were indexed).

-- A showtime's bookings by status; amount and currency ride along so that
-- revenue is read from the index alone once the table is vacuumed.
CREATE INDEX bookings_showtime_status_idx ON bookings (showtime_id, status)
    INCLUDE (amount, currency);

-- Every sale of one seat, live or not: its history.
CREATE INDEX booking_seats_showtime_seat_idx ON booking_seats (showtime_id, seat_id);
