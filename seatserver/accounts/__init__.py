"""Users and their sessions: who is asking, for the HTTP API and the WebSocket."""
