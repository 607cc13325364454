"""Sales for the operator: what each showtime sold, per film and day, exports
as CSV, and one seat's history (PostgreSQL and the showtime's Redis stream)."""
