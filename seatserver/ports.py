"""Free TCP ports: for servers given a port of their own (``serve`` on port 0,
the embedded Redis and PostgreSQL, and the processes tests and benchmarks run)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` just now, as the kernel picks it.

    Another process may take it before it is used: callers that cannot
    afford that bind the socket themselves and keep it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host or "0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port
