"""seatserver: a real-time WebSocket seat-selection server."""

__version__ = "0.1.0"
