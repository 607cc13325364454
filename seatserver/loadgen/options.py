"""``seatserver loadgen`` options: the parser and the validated, picklable result.

Every bad value is refused by argparse with the option's name and why, before
anything connects; the parsed options travel to the worker processes as one
frozen object.
"""

from __future__ import annotations

import argparse
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from seatserver.protocol.codecs import JSON_PROTOCOL, MSGPACK_PROTOCOL

MAX_WORKERS = 64
SCENARIOS = ("default", "onsale")
# The server's own bounds on sale settings (docs/api.md): refused here first,
# with the option's name, rather than by the admin API mid-setup.
MAX_ADMISSION = 1_000_000
MIN_ADMISSION_TTL_S, MAX_ADMISSION_TTL_S = 60, 86_400
DEFAULT_ARRIVAL_RATE = 50.0


@dataclass(frozen=True, slots=True)
class LoadOptions:
    url: str
    clients: int
    duration_s: float
    # Stop after this many hold requests in all (None: only the duration bounds).
    max_holds: int | None
    # Showtime ids, or None for every showtime GET /api/showtimes lists.
    showtimes: tuple[int, ...] | None
    arrival_rate: float  # clients per second; 0 = all at once
    hot_seat_bias: float  # 0 = any free seat alike, 1 = strongly the best ones
    checkout_share: float  # of baskets, checked out through the payment flow
    best_share: float  # of baskets, asked for with one best-available hold
    decline_share: float  # of checkouts, declined on the provider's page
    think_s: float  # mean think time of a buyer
    kiosks: int
    workers: int
    seed: int
    protocol: str
    redis_url: str | None
    database_url: str | None
    store_audit: bool
    report: Path
    progress: bool
    # The on-sale rush (docs/loadgen.md, "The on-sale scenario").
    scenario: str = "default"
    # Set the showtimes' sale settings with this admin account (None: use them
    # as they are, which must have a waiting room on).
    admin_email: str = "admin@example.com"
    admin_password: str | None = None
    # The admin's two-factor key (base32, as the enrolment page shows it): the
    # load generator computes the log-in's code from it, as an app would.
    admin_totp_secret: str | None = None
    opens_in_s: float = 5.0
    admission_rate: int = 600  # buyers per minute
    active_cap: int = 0
    admission_ttl_s: int = 600
    abandon_share: float = 0.05  # of buyers still waiting give up after a while
    # True when --arrival-rate was given: an on-sale run then spreads arrivals
    # at that rate instead of all before the opening.
    arrival_rate_given: bool = True
    metrics_urls: tuple[str, ...] = ()
    metrics_token: str | None = None

    def arrival_s(self, number: int) -> float:
        """When buyer ``number`` arrives, in seconds from the start: at the
        arrival rate; in an on-sale run without one, every buyer before the
        opening (spread over all but its last second)."""
        if self.scenario == "onsale" and not self.arrival_rate_given:
            return number * max(0.0, self.opens_in_s - 1.0) / self.clients
        return number / self.arrival_rate if self.arrival_rate > 0 else 0.0


def _bounded(kind: Callable[[str], float], low: float, high: float | None = None,
             *, low_open: bool = False) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            # ASCII only: Python would read "١٢" or "1_0" as numbers, no person means them.
            if not raw.isascii() or "_" in raw:
                raise ValueError(raw)
            value = kind(raw)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"not a number: {raw[:40]!r}") from None
        if not math.isfinite(value) or (value <= low if low_open else value < low) \
                or (high is not None and value > high):
            where = f"more than {low}" if low_open else f"at least {low}"
            if high is not None:
                where = f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {where}, got {raw}")
        return value
    return parse


def _count(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            if not (raw.strip().isascii() and raw.strip().lstrip("+-").isdecimal()):
                raise ValueError(raw)
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {raw[:40]!r}") from None
        if value < low or (high is not None and value > high):
            where = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {where}, got {value}")
        return value
    return parse


def _share(raw: str) -> float:
    return _bounded(float, 0.0, 1.0)(raw)


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"must be the server's http:// or https:// address, got {raw!r}")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise argparse.ArgumentTypeError(
            f"must be the server's root address with no path, got {raw!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _metrics_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"must be an http:// or https:// address of /metrics, got {raw[:80]!r}")
    return raw


def _showtimes(raw: str) -> tuple[int, ...] | None:
    if raw.strip().lower() == "all":
        return None
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdecimal()) or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f'must be "all" or showtime ids separated by commas, got {raw!r}')
        if int(part) not in ids:
            ids.append(int(part))
    return tuple(ids)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``loadgen`` subcommand; cli.py hands its arguments to ``from_args``."""
    p = commands.add_parser(
        "loadgen", help="play simulated buyers against a running server, then audit it",
        description="Simulated buyers connect to a running seatserver, look, click seats, "
                    "release, retry, check out through the payment flow or walk away; "
                    "kiosks watch summaries. Live progress while it runs, a JSON and an "
                    "HTML report at the end, and an audit the run cannot pass without: "
                    "the exit status is 0 when it passed, 1 when a check failed, 2 for "
                    "bad options, 130/143 when stopped by SIGINT/SIGTERM (partial report, "
                    "audit run) with the audit passing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--url", type=_url, required=True,
                   help="the server's address, e.g. http://localhost:8080")
    p.add_argument("--clients", type=_count(1, 1_000_000), default=100,
                   help="simulated buyers, connected at --arrival-rate")
    p.add_argument("--duration", type=_bounded(float, 0.0, 86_400.0, low_open=True),
                   default=30.0, metavar="SECONDS",
                   help="how long buyers act; the audit and report follow")
    p.add_argument("--holds", type=_count(1, 10**12), default=None, metavar="N",
                   help="also stop after N hold requests in all (default: no count bound)")
    p.add_argument("--showtimes", type=_showtimes, default=None, metavar="IDS",
                   help='"all" (every showtime GET /api/showtimes lists) or ids: 3,4')
    p.add_argument("--arrival-rate", type=_bounded(float, 0.0, 1_000_000.0), default=None,
                   metavar="PER_S",
                   help=f"new clients per second; 0 connects all at once (default "
                        f"{DEFAULT_ARRIVAL_RATE:g}; --scenario onsale: every buyer before "
                        "the opening)")
    p.add_argument("--hot-seat-bias", type=_share, default=0.6, metavar="0..1",
                   help="how strongly buyers prefer the best seats (central, mid-back "
                        "rows, dearer types): 0 any free seat alike")
    p.add_argument("--checkout-share", type=_share, default=0.3, metavar="0..1",
                   help="share of baskets checked out through the payment flow; the "
                        "rest are released or walked away from")
    p.add_argument("--best-share", type=_share, default=0.0, metavar="0..1",
                   help="share of baskets asked for with best available (the party's "
                        "size in one hold, the server picks) instead of clicked seat by seat")
    p.add_argument("--decline-share", type=_share, default=0.1, metavar="0..1",
                   help="share of checkouts declined on the provider's page")
    p.add_argument("--think", type=_bounded(float, 0.0, 600.0), default=1.0,
                   metavar="SECONDS", help="mean think time between a buyer's steps")
    p.add_argument("--kiosks", type=_count(0, 100_000), default=2,
                   help='kiosk boards on view "summary", spread over the showtimes')
    p.add_argument("--workers", type=_count(1, MAX_WORKERS), default=1,
                   help="processes sharing the clients, each with its own event loop")
    p.add_argument("--seed", type=_count(0, 2**63 - 1), default=None,
                   help="seed of every random choice, for a reproducible run "
                        "(default: a new one, printed and kept in the report)")
    p.add_argument("--protocol", choices=("json", "msgpack"), default="json",
                   help="WebSocket subprotocol the clients speak")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or None,
                   help="the server's Redis, for the audit's event stream and "
                        "booked-seat checks (default $REDIS_URL)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or None,
                   help="the server's PostgreSQL, for the audit's booking and payment "
                        "checks (default $DATABASE_URL)")
    p.add_argument("--no-store-audit", dest="store_audit", action="store_false",
                   help="run without the checks that read Redis and PostgreSQL: they are "
                        "reported as skipped. Without this flag a run that lacks "
                        "--redis-url or --database-url FAILS its audit, since those "
                        "checks could not run")
    p.add_argument("--report", type=Path, default=Path("loadgen-report"), metavar="PREFIX",
                   help="write PREFIX.json and PREFIX.html")
    p.add_argument("--quiet", dest="progress", action="store_false",
                   help="no live progress on stderr")
    p.add_argument("--metrics-url", dest="metrics_urls", action="append", type=_metrics_url,
                   default=None, metavar="URL",
                   help="the server's /metrics, scraped before and after the run for its "
                        "own latencies (repeat for each instance; default: URL/metrics)")
    p.add_argument("--metrics-token", default=os.environ.get("SEATSERVER_METRICS_TOKEN"),
                   help="Bearer token for /metrics (default $SEATSERVER_METRICS_TOKEN)")
    rush = p.add_argument_group(
        "the on-sale rush (--scenario onsale)",
        "Buyers arrive before the showtimes go on sale, wait in the waiting room, are "
        "admitted, pick seats and check out. With --admin-password the load generator "
        "sets each showtime on sale --opens-in seconds ahead with its waiting room on "
        "(and puts the settings back at the end); without it, it plays the showtimes' "
        "sale settings as they are, which must have a waiting room on.")
    rush.add_argument("--scenario", choices=SCENARIOS, default="default",
                      help="default: buyers come and go; onsale: the rush at an opening")
    rush.add_argument("--admin-email", default="admin@example.com",
                      help="the admin account that sets the sale settings")
    rush.add_argument("--admin-password",
                      default=os.environ.get("SEATSERVER_ADMIN_PASSWORD") or None,
                      help="its password (default $SEATSERVER_ADMIN_PASSWORD)")
    rush.add_argument("--admin-totp-secret",
                      default=os.environ.get("SEATSERVER_ADMIN_TOTP_SECRET") or None,
                      help="its two-factor key, base32, to compute the log-in's code "
                           "(default $SEATSERVER_ADMIN_TOTP_SECRET)")
    rush.add_argument("--opens-in", type=_bounded(float, 1.0, 3600.0), default=5.0,
                      metavar="SECONDS", help="the on-sale time, from the start of the run")
    rush.add_argument("--admission-rate", type=_count(0, MAX_ADMISSION), default=600,
                      metavar="PER_MIN", help="buyers admitted per minute (0: none, the "
                                              "cap alone paces)")
    rush.add_argument("--active-cap", type=_count(0, MAX_ADMISSION), default=0, metavar="N",
                      help="buyers admitted and active at once (0: no cap)")
    rush.add_argument("--admission-ttl", type=_count(MIN_ADMISSION_TTL_S, MAX_ADMISSION_TTL_S),
                      default=600, metavar="SECONDS",
                      help="how long an admission lasts unused")
    rush.add_argument("--abandon-share", type=_share, default=0.05, metavar="0..1",
                      help="share of waiting buyers who give up before they are admitted")


def from_args(args: argparse.Namespace) -> LoadOptions:
    protocol = MSGPACK_PROTOCOL if args.protocol == "msgpack" else JSON_PROTOCOL
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    return LoadOptions(
        url=args.url, clients=args.clients, duration_s=args.duration, max_holds=args.holds,
        showtimes=args.showtimes,
        arrival_rate=DEFAULT_ARRIVAL_RATE if args.arrival_rate is None else args.arrival_rate,
        hot_seat_bias=args.hot_seat_bias, checkout_share=args.checkout_share,
        best_share=args.best_share, decline_share=args.decline_share, think_s=args.think,
        kiosks=args.kiosks,
        workers=args.workers, seed=seed, protocol=protocol, redis_url=args.redis_url,
        database_url=args.database_url, store_audit=args.store_audit, report=args.report,
        progress=args.progress, scenario=args.scenario, admin_email=args.admin_email,
        admin_password=args.admin_password, admin_totp_secret=args.admin_totp_secret,
        opens_in_s=args.opens_in,
        admission_rate=args.admission_rate, active_cap=args.active_cap,
        admission_ttl_s=args.admission_ttl, abandon_share=args.abandon_share,
        arrival_rate_given=args.arrival_rate is not None,
        metrics_urls=tuple(args.metrics_urls or (f"{args.url}/metrics",)),
        metrics_token=args.metrics_token)
