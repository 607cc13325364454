"""Process configuration, read once from the environment into a frozen object.

Every knob the server has is here, with its environment name, so that
docs/configuration.md can be checked against one place.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _auto_flag(env: Mapping[str, str], name: str) -> bool | None:
    """``yes``/``no``, or None for ``auto`` (and unset): find out at start."""
    raw = (env.get(name) or "auto").strip().lower()
    choices = {"auto": None, "yes": True, "true": True, "1": True,
               "no": False, "false": False, "0": False}
    if raw not in choices:
        raise SettingsError(f"{name} must be auto, yes or no, got {raw!r}")
    return choices[raw]


def _origins(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0 (true/false), got {raw!r}")


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    found: list[Network] = []
    for part in (env.get(name) or "").split(","):
        if not part.strip():
            continue
        try:
            found.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise SettingsError(f"{name}: {part.strip()!r} is not an address or "
                                "network (like 10.0.0.5 or 10.0.0.0/8)") from None
    return tuple(found)


# Shorter configured secrets are refused: a guessable key forges payments and tickets.
MIN_SECRET_LENGTH = 32


def _secret(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) < MIN_SECRET_LENGTH or raw != raw.strip() or not raw.isprintable():
        raise SettingsError(f"{name} must be at least {MIN_SECRET_LENGTH} printable characters "
                            "without surrounding spaces (e.g. `openssl rand -hex 32`); or "
                            "leave it unset to have one generated and kept in the database")
    return raw


_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def _public_url(env: Mapping[str, str], name: str) -> str | None:
    """``http(s)://host[:port]``, normalised (no trailing slash); nothing else."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    problem = f"{name} must be like https://tickets.example.com or http://localhost:8080 " \
              f"(scheme, host, optional port; no path, query or user), got {raw!r}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise SettingsError(problem) from None
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password
            or not raw.isascii() or port == 0 or not _valid_host(host)):
        raise SettingsError(problem)
    shown = f"[{host}]" if ":" in host else host.lower()
    return f"{parts.scheme}://{shown}" + ("" if port is None else f":{port}")


def _valid_host(host: str) -> bool:
    if _HOST_NAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None
    # Whether REDIS_URL is a node of a Redis Cluster; None: ask it at start.
    redis_cluster: bool | None = None
    database_url: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    hold_ttl_s: int = 480
    max_seats: int = 10
    # Seats held at once from one client address (an IPv4 address or an IPv6
    # /64) in one showtime, across all its sessions; 0: no cap. Four buyers at
    # max_seats: a household or an office behind one NAT still buys.
    max_seats_per_address: int = 40
    # WebSocket connections one session may have open on one server process.
    max_sockets_per_session: int = 16
    # Empty means "the server's own origin only" (judged from the Host header).
    allowed_origins: tuple[str, ...] = ()
    data_dir: Path = field(default_factory=lambda: Path(".data"))
    # Events kept per showtime stream; a client further behind gets a snapshot.
    stream_maxlen: int = 10_000
    # Bytes a subscriber may have unsent before it is cut off as too slow.
    send_buffer_limit: int = 1 << 20
    # SO_SNDBUF of WebSocket sockets; 0 keeps the kernel's autotuning (up to
    # net.ipv4.tcp_wmem's maximum, 4 MiB here, buffered before the bound above
    # even starts to count).
    socket_send_buffer: int = 0
    # Largest WebSocket frame a client may send.
    max_frame_bytes: int = 16 * 1024
    # Client messages per second (sustained) and burst before `rate_limited`.
    rate_per_s: float = 20.0
    rate_burst: int = 40
    # Seconds between WebSocket pings; a peer silent for two of them is closed.
    heartbeat_s: float = 20.0
    redis_pool_size: int = 64
    db_pool_size: int = 10
    summary_interval_s: float = 0.25
    # Margin the seat key's own TTL keeps beyond the hold deadline (backstop).
    backstop_ms: int = 5_000

    # Sales close this long before the start.
    sales_close_min: int = 10
    # Seats stay held for the payment (Redis hold extended at checkout).
    payment_window_s: int = 600
    # How long checkout waits for the provider to create a payment order
    # before giving the buyer's holds back and answering payment_unavailable.
    payment_timeout_s: float = 15.0
    # Bookings can be cancelled until this long before the start: in full
    # until refund_full_h hours before, then refund_partial_percent % of it.
    cancel_cutoff_min: int = 120
    refund_full_h: int = 24
    refund_partial_percent: int = 50
    # HMAC-SHA256 key of the payment provider's signed returns and webhooks.
    # None: generated once and kept in PostgreSQL (bookings/keys.py), shared
    # by every instance; there is no default in the code.
    payment_secret: str | None = None
    # HMAC-SHA256 key of the ticket ids in QR codes (the door's scanners hold it).
    ticket_secret: str | None = None
    # How long a stored key stays valid for verifying after `secrets rotate`.
    secret_grace_s: int = 30 * 86_400
    # How often each instance reloads the stored keys (sees a rotation).
    secret_refresh_s: float = 10.0
    # Where buyers and the payment provider reach this server: the origin of
    # the return and webhook URLs. None: http://<host>:<port> as served
    # (localhost for a wildcard host); never the request's Host header.
    public_url: str | None = None
    # Webhooks signed longer ago than this are refused as stale (replays).
    webhook_tolerance_s: int = 300
    # How often each instance looks for pending bookings past their window.
    pending_sweep_s: float = 5.0
    # The simulated provider's misbehaviour: chance of sending a webhook twice,
    # and of delaying one so that later events overtake it.
    sim_duplicate_rate: float = 0.1
    sim_reorder_rate: float = 0.1
    sim_retry_base_s: float = 0.5
    # The outbox worker: how often each instance looks for due messages, and
    # the back-off of a failed delivery (doubling from base, capped).
    outbox_poll_s: float = 1.0
    outbox_retry_base_s: float = 5.0
    outbox_retry_cap_s: float = 600.0
    # A message that failed this many deliveries is parked as dead (kept,
    # logged, listed by `seatserver outbox dead`) instead of retried for ever.
    outbox_max_attempts: int = 20
    # How often each instance checks that Redis still has the mirror of
    # PostgreSQL's bookings (a flushed or restarted Redis has lost it).
    mirror_check_s: float = 5.0

    # Accounts. Session cookies are Secure when the request came over TLS (to
    # us, or to a trusted proxy that says so); secure_cookies forces it.
    secure_cookies: bool = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (the
    # client's address for rate limits, https for Secure cookies).
    trusted_proxies: tuple[Network, ...] = ()
    # Guest sessions (POST /api/sessions) one client address may open per
    # minute; 0: no limit.
    guest_sessions_per_minute: int = 30
    # Failed log-ins allowed per account and per client address in a window.
    login_limit_account: int = 5
    login_limit_address: int = 30
    login_window_s: int = 900
    # Password-reset messages per account (and 3x that per address) per window.
    reset_limit: int = 3
    # E-mail address changes per account per log-in window.
    email_change_limit: int = 3
    # How long a password-reset and an e-mail confirmation link work.
    reset_token_ttl_s: int = 3600
    email_token_ttl_s: int = 86_400
    # Argon2id hashes computed at once per process (each takes 64 MiB).
    password_hash_concurrency: int = 4
    # Passwords of the demo's staff accounts (`seed --demo`); unset: generated
    # and printed once when the account is created.
    admin_password: str | None = None
    kiosk_password: str | None = None
    # Bearer token /metrics asks for; unset: /metrics answers only local
    # scrapers that came straight to us (loopback, no forwarding header).
    metrics_token: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.refund_partial_percent <= 100:
            raise SettingsError("SEATSERVER_REFUND_PARTIAL_PERCENT must be 0 to 100, got "
                                f"{self.refund_partial_percent}")
        if self.metrics_token is not None and (len(self.metrics_token) < 16
                                               or not self.metrics_token.isprintable()
                                               or " " in self.metrics_token):
            raise SettingsError("SEATSERVER_METRICS_TOKEN must be at least 16 printable "
                                "characters without spaces (e.g. `openssl rand -hex 32`)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            redis_url=env.get("REDIS_URL") or None,
            redis_cluster=_auto_flag(env, "SEATSERVER_REDIS_CLUSTER"),
            database_url=env.get("DATABASE_URL") or None,
            host=env.get("SEATSERVER_HOST") or "0.0.0.0",
            port=_int(env, "SEATSERVER_PORT", 8080, minimum=0),
            hold_ttl_s=_int(env, "SEATSERVER_HOLD_TTL", 480, minimum=1),
            max_seats=_int(env, "SEATSERVER_MAX_SEATS", 10, minimum=1),
            max_seats_per_address=_int(env, "SEATSERVER_MAX_SEATS_PER_ADDRESS", 40),
            max_sockets_per_session=_int(env, "SEATSERVER_MAX_SOCKETS_PER_SESSION", 16,
                                         minimum=1),
            allowed_origins=_origins(env.get("SEATSERVER_ALLOWED_ORIGINS")),
            data_dir=Path(env.get("SEATSERVER_DATA_DIR") or ".data"),
            stream_maxlen=_int(env, "SEATSERVER_STREAM_MAXLEN", 10_000, minimum=100),
            redis_pool_size=_int(env, "SEATSERVER_REDIS_POOL", 64, minimum=4),
            socket_send_buffer=_int(env, "SEATSERVER_SOCKET_SNDBUF", 0, minimum=0),
            db_pool_size=_int(env, "SEATSERVER_DB_POOL", 10, minimum=2),
            sales_close_min=_int(env, "SEATSERVER_SALES_CLOSE_MIN", 10),
            payment_window_s=_int(env, "SEATSERVER_PAYMENT_WINDOW", 600, minimum=30),
            payment_timeout_s=float(_int(env, "SEATSERVER_PAYMENT_TIMEOUT", 15, minimum=1)),
            cancel_cutoff_min=_int(env, "SEATSERVER_CANCEL_CUTOFF_MIN", 120),
            refund_full_h=_int(env, "SEATSERVER_REFUND_FULL_HOURS", 24),
            refund_partial_percent=_int(env, "SEATSERVER_REFUND_PARTIAL_PERCENT", 50),
            payment_secret=_secret(env, "SEATSERVER_PAYMENT_SECRET"),
            ticket_secret=_secret(env, "SEATSERVER_TICKET_SECRET"),
            secret_grace_s=_int(env, "SEATSERVER_SECRET_GRACE", 30 * 86_400),
            public_url=_public_url(env, "SEATSERVER_PUBLIC_URL"),
            outbox_max_attempts=_int(env, "SEATSERVER_OUTBOX_MAX_ATTEMPTS", 20, minimum=1),
            secure_cookies=_bool(env, "SEATSERVER_SECURE_COOKIES"),
            trusted_proxies=_networks(env, "SEATSERVER_TRUSTED_PROXIES"),
            guest_sessions_per_minute=_int(env, "SEATSERVER_GUEST_SESSIONS_PER_MINUTE", 30),
            login_limit_account=_int(env, "SEATSERVER_LOGIN_LIMIT_ACCOUNT", 5, minimum=1),
            login_limit_address=_int(env, "SEATSERVER_LOGIN_LIMIT_ADDRESS", 30, minimum=1),
            login_window_s=_int(env, "SEATSERVER_LOGIN_WINDOW", 900, minimum=1),
            email_change_limit=_int(env, "SEATSERVER_EMAIL_CHANGE_LIMIT", 3, minimum=1),
            reset_token_ttl_s=_int(env, "SEATSERVER_RESET_TOKEN_TTL", 3600, minimum=60),
            email_token_ttl_s=_int(env, "SEATSERVER_EMAIL_TOKEN_TTL", 86_400, minimum=60),
            admin_password=env.get("SEATSERVER_ADMIN_PASSWORD") or None,
            kiosk_password=env.get("SEATSERVER_KIOSK_PASSWORD") or None,
            metrics_token=env.get("SEATSERVER_METRICS_TOKEN") or None,
        )

    def with_urls(self, redis_url: str, database_url: str) -> Settings:
        return replace(self, redis_url=redis_url, database_url=database_url)

    @property
    def public_origin(self) -> str:
        """The configured public URL, else this server's own address as
        served: what `serve` announces, and what every worker agrees on."""
        if self.public_url:
            return self.public_url
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "localhost"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
