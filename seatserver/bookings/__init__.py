"""Bookings and payments: held seats become a paid booking in PostgreSQL."""
