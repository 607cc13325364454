"""``seatserver loadgen`` options: the parser and the validated, picklable result.

Every bad value is refused by argparse with the option's name and why, before
anything connects; the parsed options travel to the worker processes as one
frozen object.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from seatserver.protocol.codecs import JSON_PROTOCOL, MSGPACK_PROTOCOL

MAX_WORKERS = 64


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


def _bounded(kind: Callable[[str], float], low: float, high: float | None = None,
             *, low_open: bool = False) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
        if value != value or (value <= low if low_open else value < low) \
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
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
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
    p.add_argument("--holds", type=_count(1), default=None, metavar="N",
                   help="also stop after N hold requests in all (default: no count bound)")
    p.add_argument("--showtimes", type=_showtimes, default=None, metavar="IDS",
                   help='"all" (every showtime GET /api/showtimes lists) or ids: 3,4')
    p.add_argument("--arrival-rate", type=_bounded(float, 0.0), default=50.0,
                   metavar="PER_S", help="new clients per second; 0 connects all at once")
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
    p.add_argument("--seed", type=_count(0), default=None,
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


def from_args(args: argparse.Namespace) -> LoadOptions:
    protocol = MSGPACK_PROTOCOL if args.protocol == "msgpack" else JSON_PROTOCOL
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    return LoadOptions(
        url=args.url, clients=args.clients, duration_s=args.duration, max_holds=args.holds,
        showtimes=args.showtimes, arrival_rate=args.arrival_rate,
        hot_seat_bias=args.hot_seat_bias, checkout_share=args.checkout_share,
        best_share=args.best_share, decline_share=args.decline_share, think_s=args.think,
        kiosks=args.kiosks,
        workers=args.workers, seed=seed, protocol=protocol, redis_url=args.redis_url,
        database_url=args.database_url, store_audit=args.store_audit, report=args.report,
        progress=args.progress)
