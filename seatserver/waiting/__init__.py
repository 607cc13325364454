"""The waiting room: sale settings per showtime, a fair queue in Redis, and
the task that admits buyers from it (issue 16)."""
