"""Live rooms over WebSocket: the /ws view, connections, commands, rooms."""
