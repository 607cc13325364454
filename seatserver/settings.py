"""Process configuration, read once from the environment into a frozen object.

One typed model (pydantic-settings): each field the environment may set
names its variable and how its text reads in an ``Env`` beside its type, so
the variables, their defaults and bounds live in one place, and
docs/configuration.md is checked against it (tests/test_settings.py).
``Settings(...)`` takes values from code only; ``Settings.from_env()`` reads
the environment, where an unset or empty variable means the default and a
value the server cannot use stops it with a message naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


Reader = Callable[[str, str], Any]

# Whole numbers the environment may set stay below this (the port below
# 65535): far above any sensible value, and far below what would overflow a
# deadline in milliseconds.
MAX_COUNT = 10**9
# Shorter configured secrets are refused: a guessable key forges payments and tickets.
MIN_SECRET_LENGTH = 32
# Bounds of the waiting room's settings, the environment's and the admin API's alike.
MAX_ADMISSION = 1_000_000
MIN_ADMISSION_TTL_S = 60
MAX_ADMISSION_TTL_S = 86_400
# The furthest ahead of its start a showtime may go on sale by default.
MAX_ONSALE_BEFORE_S = 366 * 86_400

# Set by ``serve --workers N`` in each worker's environment, not by users: the
# worker's place among its siblings (0, 1, ...), which picks its metrics port.
WORKER_INDEX_ENV = "SEATSERVER_WORKER_INDEX"


def worker_index() -> int:
    """This process's worker index; 0 when it serves alone."""
    raw = os.environ.get(WORKER_INDEX_ENV, "0")
    return int(raw) if raw.isascii() and raw.isdigit() else 0


def _shown(raw: str) -> str:
    """A value as an error message quotes it: repr, cut to a readable length."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "...")


@dataclass(frozen=True, slots=True)
class Count:
    """Reads a whole number in ASCII digits (surrounding spaces allowed), in bounds."""

    minimum: int = 0
    maximum: int = MAX_COUNT

    def __call__(self, name: str, raw: str) -> int:
        text = raw.strip()
        digits = text[1:] if text[:1] in ("-", "+") else text
        if not (digits.isascii() and digits.isdigit()):
            raise SettingsError(f"{name} must be a whole number, got {_shown(raw)}")
        if len(digits) > len(str(MAX_COUNT)):
            raise SettingsError(f"{name} must be at most {self.maximum}, got {_shown(raw)}")
        value = int(text)
        if value < self.minimum:
            raise SettingsError(f"{name} must be at least {self.minimum}, got {value}")
        if value > self.maximum:
            raise SettingsError(f"{name} must be at most {self.maximum}, got {value}")
        return value


_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


@dataclass(frozen=True, slots=True)
class Duration:
    """Reads a span of time as seconds: ASCII digits and a unit, ``d``,
    ``h``, ``m`` or ``s`` (``14d``, ``36h``, ``90m``), or digits alone for
    seconds; in bounds."""

    minimum: int = 1
    maximum: int = MAX_COUNT

    def __call__(self, name: str, raw: str) -> int:
        text = raw.strip().lower()
        unit = text[-1:] if text[-1:] in _UNITS else "s"
        digits = text[:-1].strip() if text[-1:] in _UNITS else text
        if not (digits.isascii() and digits.isdigit()):
            raise SettingsError(f"{name} must be a duration like 14d, 36h, 90m or 600 "
                                f"(seconds), got {_shown(raw)}")
        days = self.maximum // 86_400
        too_long = f"{name} must be at most {self.maximum} seconds ({days} days)"
        if len(digits) > len(str(self.maximum)):
            raise SettingsError(f"{too_long}, got {_shown(raw)}")
        value = int(digits) * _UNITS[unit]
        if value < self.minimum:
            raise SettingsError(f"{name} must be at least {self.minimum} s, got {value}")
        if value > self.maximum:
            raise SettingsError(f"{too_long}, got {value} s")
        return value


def text(name: str, raw: str) -> str:
    return raw


def folder(name: str, raw: str) -> Path:
    return Path(raw)


def auto_flag(name: str, raw: str) -> bool | None:
    """``yes``/``no``, or None for ``auto`` (and unset): find out at start."""
    choices = {"auto": None, "yes": True, "true": True, "1": True,
               "no": False, "false": False, "0": False}
    value = raw.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be auto, yes or no, got {_shown(value)}")
    return choices[value]


def flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0 (true/false), got {_shown(value)}")


def tls_mode(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("none", "starttls", "tls"):
        raise SettingsError(f"{name} must be starttls, tls or none, got {_shown(value)}")
    return value


def hashing_cost(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("standard", "test"):
        raise SettingsError(f"{name} must be standard or test (test suites only), "
                            f"got {_shown(value)}")
    return value


_MAIL_ADDRESS = re.compile(r"^[^@\s<>(),;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def mail_address(name: str, raw: str) -> str:
    """One plain address (``tickets@example.com``): no display name, no list."""
    value = raw.strip()
    if not value.isascii() or not _MAIL_ADDRESS.match(value) or "." not in value.split("@")[1]:
        raise SettingsError(f"{name} must be one e-mail address like tickets@example.com, "
                            f"got {_shown(value)}")
    return value


def origins(name: str, raw: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def networks(name: str, raw: str) -> tuple[Network, ...]:
    found: list[Network] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            found.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise SettingsError(f"{name}: {_shown(part.strip())} is not an address or "
                                "network (like 10.0.0.5 or 10.0.0.0/8)") from None
    return tuple(found)


PAYMENT_PROVIDERS = ("simulated", "stripe")


def provider_name(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in PAYMENT_PROVIDERS:
        raise SettingsError(f"{name} must be one of {', '.join(PAYMENT_PROVIDERS)}, "
                            f"got {_shown(raw)}")
    return value


def stripe_key(*prefixes: str) -> Reader:
    """Reads a Stripe key by its prefix; the message never quotes the value."""
    def read(name: str, raw: str) -> str:
        value = raw.strip()
        if not value.startswith(prefixes) or not value.isascii() or not value.isprintable() \
                or " " in value or len(value) < 16:
            raise SettingsError(f"{name} must be a Stripe key starting with "
                                f"{' or '.join(prefixes)} (the value is not shown)")
        return value
    return read


def secret(name: str, raw: str) -> str:
    if len(raw) < MIN_SECRET_LENGTH or raw != raw.strip() or not raw.isprintable():
        raise SettingsError(f"{name} must be at least {MIN_SECRET_LENGTH} printable characters "
                            "without surrounding spaces (e.g. `openssl rand -hex 32`); or "
                            "leave it unset to have one generated and kept in the database")
    return raw


# As seatserver.personal.cipher checks them (which imports nothing of ours).
_KEY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def personal_key(name: str, raw: str) -> str:
    """One 256-bit key in base64 (``openssl rand -base64 32``), either alphabet."""
    text = raw.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{name}: not base64 (e.g. `openssl rand -base64 32`)") from None
    if len(key) != 32:
        raise SettingsError(f"{name}: must be 32 bytes, got {len(key)} "
                            "(e.g. `openssl rand -base64 32`)")
    return raw


def personal_key_list(name: str, raw: str) -> str:
    """``id:base64,id:base64``: the data keys, the first one current."""
    seen: set[str] = set()
    for item in raw.split(","):
        key_id, sep, text = item.strip().partition(":")
        if not sep or not _KEY_ID.match(key_id) or key_id in seen:
            raise SettingsError(f"{name} must be `id:base64-key` items separated by commas, "
                                "each id once (lower-case letters, digits and -), the "
                                "current key first")
        seen.add(key_id)
        personal_key(f"{name} {key_id!r}", text)
    return raw


_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def origin_url(name: str, raw: str) -> str | None:
    """``http(s)://host[:port]``, normalised (no trailing slash); nothing else."""
    value = raw.strip()
    if not value:
        return None
    problem = f"{name} must be like https://tickets.example.com or http://localhost:8080 " \
              f"(scheme, host, optional port; no path, query or user), got {_shown(value)}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise SettingsError(problem) from None
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password
            or not value.isascii() or port == 0 or not _valid_host(host)):
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
class Env:
    """The environment variable a setting is read from and how its text reads.

    ``shown`` is the default as docs/configuration.md writes it, when that is
    not the value itself (``None`` is "unset", an empty tuple "empty").
    """

    name: str
    read: Reader = text
    shown: str | None = None


def env_fields() -> Iterator[tuple[str, FieldInfo, Env]]:
    """Every setting the environment may set: field name, field, variable."""
    for field_name, info in Settings.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, Env):
                yield field_name, info, meta


# The mapping from_env reads; unset: Settings(...) takes values from code only.
_environment: ContextVar[Mapping[str, str] | None] = ContextVar("environment", default=None)


class _EnvironmentSource(PydanticBaseSettingsSource):
    """The values the environment sets, read by each field's ``Env``.

    An unset or empty variable is left out (the field keeps its default); a
    NUL byte is refused before any reader sees the value.
    """

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, _, env in env_fields():
            raw = self._env.get(env.name)
            if not raw:
                continue
            if "\x00" in raw:
                raise SettingsError(f"{env.name} must not contain a NUL character")
            values[field_name] = env.read(env.name, raw)
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    redis_url: Annotated[str | None, Env("REDIS_URL")] = None
    # Whether REDIS_URL is a node of a Redis Cluster; None: ask it at start.
    redis_cluster: Annotated[bool | None,
                             Env("SEATSERVER_REDIS_CLUSTER", auto_flag, shown="auto")] = None
    database_url: Annotated[str | None, Env("DATABASE_URL")] = None
    host: Annotated[str, Env("SEATSERVER_HOST")] = "0.0.0.0"
    port: Annotated[int, Env("SEATSERVER_PORT", Count(maximum=65535))] = 8080
    hold_ttl_s: Annotated[int, Env("SEATSERVER_HOLD_TTL", Count(minimum=1))] = 480
    # Longest a buyer's run of holds may last, extensions included, from its
    # first hold (holds/lua/extend.lua); None: twice hold_ttl_s (hold_limit_s).
    hold_max_s: Annotated[int | None, Env("SEATSERVER_HOLD_MAX", Count(minimum=1),
                                          shown="twice SEATSERVER_HOLD_TTL")] = None
    max_seats: Annotated[int, Env("SEATSERVER_MAX_SEATS", Count(minimum=1))] = 10
    # Seats held at once from one client address (an IPv4 address or an IPv6
    # /64) in one showtime, across all its sessions; 0: no cap. Four buyers at
    # max_seats: a household or an office behind one NAT still buys.
    max_seats_per_address: Annotated[int, Env("SEATSERVER_MAX_SEATS_PER_ADDRESS",
                                              Count())] = 40
    # WebSocket connections one session may have open on one server process.
    max_sockets_per_session: Annotated[int, Env("SEATSERVER_MAX_SOCKETS_PER_SESSION",
                                                Count(minimum=1))] = 16
    # Empty means "the server's own origin only" (judged from the Host header).
    allowed_origins: Annotated[tuple[str, ...],
                               Env("SEATSERVER_ALLOWED_ORIGINS", origins)] = ()
    data_dir: Annotated[Path, Env("SEATSERVER_DATA_DIR", folder, shown="./.data")] = \
        Path(".data")
    # Events kept per showtime stream; a client further behind gets a snapshot.
    stream_maxlen: Annotated[int, Env("SEATSERVER_STREAM_MAXLEN", Count(minimum=100))] = 10_000
    # Bytes a subscriber may have unsent before it is cut off as too slow.
    send_buffer_limit: int = 1 << 20
    # SO_SNDBUF of WebSocket sockets; 0 keeps the kernel's autotuning (up to
    # net.ipv4.tcp_wmem's maximum, 4 MiB here, buffered before the bound above
    # even starts to count).
    socket_send_buffer: Annotated[int, Env("SEATSERVER_SOCKET_SNDBUF", Count())] = 0
    # Largest WebSocket frame a client may send.
    max_frame_bytes: int = 16 * 1024
    # Client messages per second (sustained) and burst before `rate_limited`.
    rate_per_s: float = 20.0
    rate_burst: int = 40
    # Seconds between WebSocket pings; a peer silent for two of them is closed.
    heartbeat_s: float = 20.0
    redis_pool_size: Annotated[int, Env("SEATSERVER_REDIS_POOL", Count(minimum=4))] = 64
    db_pool_size: Annotated[int, Env("SEATSERVER_DB_POOL", Count(minimum=2))] = 10
    summary_interval_s: float = 0.25
    # Frames per second this process's room updates may take in all
    # (realtime/budget.py): busy rooms are updated less often, the largest
    # first, so that fan-out never asks more of the process than it can send.
    fanout_budget: Annotated[int, Env("SEATSERVER_FANOUT_BUDGET", Count(minimum=1000))] = 20_000
    # An event-loop stall longer than this many ms is logged with where the
    # loop was and whether it ran or waited for a core (loop_lag.StallWatch).
    stall_report_ms: Annotated[int, Env("SEATSERVER_STALL_REPORT_MS",
                                        Count(maximum=60_000))] = 100
    # Each process also serves /metrics alone on a port of its own: this one
    # for the first worker, the next for the second, ... (serving.py).
    metrics_port: Annotated[int | None, Env("SEATSERVER_METRICS_PORT",
                                            Count(minimum=1, maximum=65535),
                                            shown="unset")] = None
    # Margin the hold keys' own TTL keeps beyond the latest deadline (backstop).
    backstop_ms: int = 5_000

    # The waiting room (docs/operations.md, "Sizing admission"): what a
    # showtime without sale settings of its own gets. Off by default.
    waiting_room: Annotated[bool, Env("SEATSERVER_WAITING_ROOM", flag)] = False
    # Buyers admitted per minute (0: no rate, the cap alone paces admission).
    admission_rate: Annotated[int, Env("SEATSERVER_ADMISSION_RATE",
                                       Count(maximum=MAX_ADMISSION))] = 300
    # Buyers admitted and active at once (0: no cap, the rate alone paces).
    active_cap: Annotated[int, Env("SEATSERVER_ACTIVE_BUYERS",
                                   Count(maximum=MAX_ADMISSION))] = 0
    # How long an admission lasts unused, renewed by every hold.
    admission_ttl_s: Annotated[int, Env("SEATSERVER_ADMISSION_TTL",
                                        Count(minimum=MIN_ADMISSION_TTL_S,
                                              maximum=MAX_ADMISSION_TTL_S))] = 600
    # When a showtime without an on-sale time of its own goes on sale: this
    # long before its start (enforced by the hold scripts, as an on-sale time
    # set for the showtime is). None: no default, on sale at once.
    onsale_before_s: Annotated[int | None, Env("SEATSERVER_ONSALE_BEFORE",
                                               Duration(maximum=MAX_ONSALE_BEFORE_S))] = None
    # Least time between two position updates to one waiting buyer.
    queue_update_s: Annotated[int, Env("SEATSERVER_QUEUE_UPDATE", Count(minimum=1,
                                                                        maximum=60))] = 3
    # Seconds between two steps of the admitting task (and the lease of its
    # lock: a few steps, so a killed leader is replaced within ~3 s).
    admit_interval_s: float = 0.25

    # Sales close this long before the start.
    sales_close_min: Annotated[int, Env("SEATSERVER_SALES_CLOSE_MIN", Count())] = 10
    # Seats stay held for the payment (Redis hold extended at checkout).
    payment_window_s: Annotated[int, Env("SEATSERVER_PAYMENT_WINDOW",
                                         Count(minimum=30))] = 600
    # How long checkout waits for the provider to create a payment order
    # before giving the buyer's holds back and answering payment_unavailable.
    payment_timeout_s: Annotated[float, Env("SEATSERVER_PAYMENT_TIMEOUT",
                                            Count(minimum=1), shown="15")] = 15.0
    # Bookings can be cancelled until this long before the start: in full
    # until refund_full_h hours before, then refund_partial_percent % of it.
    cancel_cutoff_min: Annotated[int, Env("SEATSERVER_CANCEL_CUTOFF_MIN", Count())] = 120
    refund_full_h: Annotated[int, Env("SEATSERVER_REFUND_FULL_HOURS", Count())] = 24
    refund_partial_percent: Annotated[int, Env("SEATSERVER_REFUND_PARTIAL_PERCENT",
                                               Count())] = 50
    # HMAC-SHA256 key of the payment provider's signed returns and webhooks.
    # None: generated once and kept in PostgreSQL (bookings/keys.py), shared
    # by every instance; there is no default in the code.
    payment_secret: Annotated[str | None, Env("SEATSERVER_PAYMENT_SECRET", secret,
                                              shown="unset: generated")] = None
    # Which provider new checkouts pay with: the built-in simulation, or Stripe
    # (Checkout Sessions, bookings/stripe_gateway.py). Orders already made
    # with the other one still settle: both are served when Stripe is chosen.
    payment_provider: Annotated[str, Env("SEATSERVER_PAYMENT_PROVIDER",
                                         provider_name)] = "simulated"
    # Stripe's secret API key (sk_live_… / sk_test_… / a restricted rk_…) and
    # the signing secret of our webhook endpoint (whsec_…). Never logged.
    stripe_secret_key: Annotated[str | None, Env("SEATSERVER_STRIPE_SECRET_KEY",
                                                 stripe_key("sk_", "rk_"))] = Field(
        default=None, repr=False)
    stripe_webhook_secret: Annotated[str | None, Env("SEATSERVER_STRIPE_WEBHOOK_SECRET",
                                                     stripe_key("whsec_"))] = Field(
        default=None, repr=False)
    # Where the Stripe library sends its calls: Stripe itself unless set (a
    # local stand-in in tests).
    stripe_api_base: Annotated[str | None, Env("SEATSERVER_STRIPE_API_BASE", origin_url,
                                               shown="https://api.stripe.com")] = None
    # HMAC-SHA256 key of the ticket ids in QR codes (the door's scanners hold it).
    ticket_secret: Annotated[str | None, Env("SEATSERVER_TICKET_SECRET", secret,
                                             shown="unset: generated")] = None
    # How long a stored key stays valid for verifying after `secrets rotate`.
    secret_grace_s: Annotated[int, Env("SEATSERVER_SECRET_GRACE", Count())] = 30 * 86_400
    # How often each instance reloads the stored keys (sees a rotation);
    # `seatserver keys rotate` waits as long for every instance to catch up,
    # so it must see the servers' value.
    secret_refresh_s: Annotated[float, Env("SEATSERVER_SECRET_REFRESH",
                                           Duration(maximum=3600), shown="10")] = 10.0
    # AES-256-GCM keys sealing names, e-mail addresses and phones at rest
    # (personal.py), `id:base64,...`, the first current; and the HMAC key of
    # e-mail look-ups. None: generated once and kept in PostgreSQL.
    personal_data_keys: Annotated[str | None, Env("SEATSERVER_PERSONAL_DATA_KEYS",
                                                  personal_key_list,
                                                  shown="unset: generated")] = None
    personal_lookup_key: Annotated[str | None, Env("SEATSERVER_PERSONAL_LOOKUP_KEY",
                                                   personal_key,
                                                   shown="unset: generated")] = None
    # Key-encryption key of the generated personal-data keys stored in
    # PostgreSQL; None: they are stored unwrapped (a warning at start).
    personal_data_kek: Annotated[str | None, Env("SEATSERVER_PERSONAL_DATA_KEK", personal_key,
                                                 shown="unset")] = None
    # Where buyers and the payment provider reach this server: the origin of
    # the return and webhook URLs. None: http://<host>:<port> as served
    # (localhost for a wildcard host); never the request's Host header.
    public_url: Annotated[str | None, Env("SEATSERVER_PUBLIC_URL", origin_url,
                                          shown="http://<host>:<port>")] = None
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
    outbox_max_attempts: Annotated[int, Env("SEATSERVER_OUTBOX_MAX_ATTEMPTS",
                                            Count(minimum=1))] = 20
    # Real e-mail (outbox/smtp.py): with an SMTP host the outbox sends its
    # messages there; unset, they go to files under data_dir/outbox (the
    # developer sink, what `make run` uses).
    smtp_host: Annotated[str | None, Env("SEATSERVER_SMTP_HOST")] = None
    # None: 587 for starttls, 465 for tls, 25 for none.
    smtp_port: Annotated[int | None, Env("SEATSERVER_SMTP_PORT", Count(minimum=1, maximum=65535),
                                         shown="by SEATSERVER_SMTP_TLS")] = None
    smtp_tls: Annotated[str, Env("SEATSERVER_SMTP_TLS", tls_mode)] = "starttls"
    smtp_username: Annotated[str | None, Env("SEATSERVER_SMTP_USERNAME")] = None
    smtp_password: Annotated[str | None, Env("SEATSERVER_SMTP_PASSWORD")] = None
    smtp_from: Annotated[str | None, Env("SEATSERVER_SMTP_FROM", mail_address)] = None
    # Seconds one delivery (connect, TLS, log-in, send) may take before it
    # counts as a temporary failure.
    smtp_timeout_s: Annotated[float, Env("SEATSERVER_SMTP_TIMEOUT",
                                         Count(minimum=1, maximum=600), shown="30")] = 30.0
    # CA certificates (PEM) to trust for the server's certificate instead of
    # the system's: a relay with a private CA.
    smtp_ca_file: Annotated[Path | None, Env("SEATSERVER_SMTP_CA_FILE", folder)] = None

    # Outgoing webhooks (seatserver/webhooks/, docs/operations.md): how often
    # each instance looks for due deliveries and new stream entries; a
    # request's timeout; sends at once per instance; failed attempts before a
    # delivery is dead; the back-off (doubling from base, capped, jittered).
    webhook_poll_s: float = 0.5
    webhook_timeout_s: Annotated[float, Env("SEATSERVER_WEBHOOK_TIMEOUT",
                                            Duration(maximum=120))] = 10
    webhook_concurrency: Annotated[int, Env("SEATSERVER_WEBHOOK_CONCURRENCY",
                                            Count(minimum=1, maximum=1000))] = 16
    webhook_max_attempts: Annotated[int, Env("SEATSERVER_WEBHOOK_MAX_ATTEMPTS",
                                             Count(minimum=1, maximum=100))] = 15
    webhook_retry_base_s: Annotated[float, Env("SEATSERVER_WEBHOOK_RETRY_BASE",
                                               Duration(maximum=86_400))] = 5
    webhook_retry_cap_s: Annotated[float, Env("SEATSERVER_WEBHOOK_RETRY_CAP",
                                              Duration(maximum=7 * 86_400))] = 3600
    # Development and tests: endpoints on localhost / 127.0.0.1 / [::1], over http too.
    webhook_allow_local: Annotated[bool, Env("SEATSERVER_WEBHOOK_ALLOW_LOCAL", flag)] = False
    # How often each instance checks that Redis still has the mirror of
    # PostgreSQL's bookings (a flushed or restarted Redis has lost it).
    mirror_check_s: float = 5.0

    # Accounts. Session cookies are Secure when the request came over TLS (to
    # us, or to a trusted proxy that says so); secure_cookies forces it.
    secure_cookies: Annotated[bool, Env("SEATSERVER_SECURE_COOKIES", flag)] = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (the
    # client's address for rate limits, https for Secure cookies).
    trusted_proxies: Annotated[tuple[Network, ...],
                               Env("SEATSERVER_TRUSTED_PROXIES", networks)] = ()
    # Guest sessions (POST /api/sessions) one client address may open per
    # minute; 0: no limit.
    guest_sessions_per_minute: Annotated[int, Env("SEATSERVER_GUEST_SESSIONS_PER_MINUTE",
                                                  Count())] = 30
    # Failed log-ins allowed per account and per client address in a window.
    login_limit_account: Annotated[int, Env("SEATSERVER_LOGIN_LIMIT_ACCOUNT",
                                            Count(minimum=1))] = 5
    login_limit_address: Annotated[int, Env("SEATSERVER_LOGIN_LIMIT_ADDRESS",
                                            Count(minimum=1))] = 30
    login_window_s: Annotated[int, Env("SEATSERVER_LOGIN_WINDOW", Count(minimum=1))] = 900
    # Two-factor codes tried per account per log-in window (right ones given back).
    mfa_limit: Annotated[int, Env("SEATSERVER_MFA_LIMIT", Count(minimum=1))] = 5
    # Refunds (minor units) an admin cancel may give without a fresh code.
    refund_reauth_above: Annotated[int, Env("SEATSERVER_REFUND_REAUTH_ABOVE",
                                            Count())] = 10_000
    # Password-reset messages per account (and 3x that per address) per window.
    reset_limit: int = 3
    # E-mail address changes per account per log-in window.
    email_change_limit: Annotated[int, Env("SEATSERVER_EMAIL_CHANGE_LIMIT",
                                           Count(minimum=1))] = 3
    # Personal-data exports (GET /api/me/export) per account per hour.
    export_limit: Annotated[int, Env("SEATSERVER_EXPORT_LIMIT", Count(minimum=1))] = 5
    # How long a password-reset and an e-mail confirmation link work.
    reset_token_ttl_s: Annotated[int, Env("SEATSERVER_RESET_TOKEN_TTL",
                                          Count(minimum=60))] = 3600
    email_token_ttl_s: Annotated[int, Env("SEATSERVER_EMAIL_TOKEN_TTL",
                                          Count(minimum=60))] = 86_400
    # Argon2id hashes computed at once per process (each takes 64 MiB).
    password_hash_concurrency: int = 4
    # "test": cheap password hashes for test suites, never for real accounts
    # (accounts/passwords.py; the server warns at every start).
    password_cost: Annotated[str, Env("SEATSERVER_PASSWORD_COST", hashing_cost,
                                      shown="standard")] = "standard"
    # Passwords of the demo's staff accounts (`seed --demo`); unset: generated
    # and printed once when the account is created.
    admin_password: Annotated[str | None, Env("SEATSERVER_ADMIN_PASSWORD")] = None
    kiosk_password: Annotated[str | None, Env("SEATSERVER_KIOSK_PASSWORD")] = None
    # Bearer token /metrics asks for; unset: /metrics answers only local
    # scrapers that came straight to us (loopback, no forwarding header).
    metrics_token: Annotated[str | None, Env("SEATSERVER_METRICS_TOKEN")] = None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.hold_max_s is not None and self.hold_max_s < self.hold_ttl_s:
            raise SettingsError(f"SEATSERVER_HOLD_MAX must be at least SEATSERVER_HOLD_TTL "
                                f"({self.hold_ttl_s}), got {self.hold_max_s}")
        if (self.personal_data_keys is None) != (self.personal_lookup_key is None):
            raise SettingsError("SEATSERVER_PERSONAL_DATA_KEYS and SEATSERVER_PERSONAL_LOOKUP_KEY "
                                "go together: set both, or neither to have them generated")
        if self.waiting_room and not (self.admission_rate or self.active_cap):
            raise SettingsError("SEATSERVER_WAITING_ROOM needs SEATSERVER_ADMISSION_RATE or "
                                "SEATSERVER_ACTIVE_BUYERS above 0, or nobody is ever admitted")
        if self.onsale_before_s is not None and \
                self.onsale_before_s <= self.sales_close_min * 60:
            raise SettingsError(f"SEATSERVER_ONSALE_BEFORE must be longer than "
                                f"SEATSERVER_SALES_CLOSE_MIN ({self.sales_close_min} min), or "
                                f"sales close before they open; got {self.onsale_before_s} s")
        if not 0 <= self.refund_partial_percent <= 100:
            raise SettingsError("SEATSERVER_REFUND_PARTIAL_PERCENT must be 0 to 100, got "
                                f"{self.refund_partial_percent}")
        if self.smtp_host is not None:
            self._check_smtp()
        if self.payment_provider == "stripe" and not (self.stripe_secret_key
                                                      and self.stripe_webhook_secret):
            raise SettingsError("SEATSERVER_PAYMENT_PROVIDER=stripe needs "
                                "SEATSERVER_STRIPE_SECRET_KEY and "
                                "SEATSERVER_STRIPE_WEBHOOK_SECRET")
        if self.metrics_token is not None and (len(self.metrics_token) < 16
                                               or not self.metrics_token.isprintable()
                                               or " " in self.metrics_token):
            raise SettingsError("SEATSERVER_METRICS_TOKEN must be at least 16 printable "
                                "characters without spaces (e.g. `openssl rand -hex 32`)")
        return self

    def _check_smtp(self) -> None:
        if self.smtp_from is None:
            raise SettingsError("SEATSERVER_SMTP_HOST needs SEATSERVER_SMTP_FROM, the address "
                                "messages are sent from")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise SettingsError("SEATSERVER_SMTP_USERNAME and SEATSERVER_SMTP_PASSWORD go "
                                "together: set both or neither")
        if self.smtp_username is not None and self.smtp_tls == "none":
            raise SettingsError("SEATSERVER_SMTP_USERNAME needs SEATSERVER_SMTP_TLS starttls "
                                "or tls: a password is never sent in clear")
        if not _valid_host(self.smtp_host or ""):
            raise SettingsError(f"SEATSERVER_SMTP_HOST must be a host name or address, got "
                                f"{_shown(self.smtp_host or '')}")

    @property
    def smtp_port_used(self) -> int:
        """SEATSERVER_SMTP_PORT as it applies: set, or the TLS mode's usual port."""
        if self.smtp_port is not None:
            return self.smtp_port
        return {"starttls": 587, "tls": 465}.get(self.smtp_tls, 25)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values from code, and the environment only when from_env reads it:
        # no .env file, no secrets folder, no environment behind a caller's back.
        env = _environment.get()
        if env is None:
            return (init_settings,)
        return (init_settings, _EnvironmentSource(settings_cls, env))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        token = _environment.set(os.environ if env is None else env)
        try:
            return cls()
        except ValidationError as exc:
            raise _settings_error(exc) from None
        finally:
            _environment.reset(token)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed, validated like the original."""
        return self.model_validate({**dict(self), **changes})

    def with_urls(self, redis_url: str, database_url: str) -> Settings:
        return self.replace(redis_url=redis_url, database_url=database_url)

    @property
    def hold_limit_s(self) -> int:
        """SEATSERVER_HOLD_MAX as it applies: set, or twice the hold time."""
        return 2 * self.hold_ttl_s if self.hold_max_s is None else self.hold_max_s

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


def _settings_error(exc: ValidationError) -> SettingsError:
    """The SettingsError a validator raised, else one naming the field."""
    first = exc.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, SettingsError):
        return cause
    where = ".".join(str(p) for p in first["loc"]) or "settings"
    return SettingsError(f"{where}: {first['msg']}")
