"""The ``seatserver`` command: ``serve``, ``migrate``, ``seed --demo``, ``reconcile``,
``outbox``, ``secrets``, ``keys``, ``import movies``, ``loadgen``.

``serve`` with neither ``REDIS_URL`` nor ``DATABASE_URL`` starts the embedded
servers (data under ``SEATSERVER_DATA_DIR``), migrates, seeds the demo and
serves; with both set it migrates and serves, starting nothing. The embedded
servers are stopped last, after the app (or every worker) has shut down.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg

from seatserver import logs
from seatserver.accounts.seed import StaffAccount, seed_staff
from seatserver.bookings.keys import KEY_NAMES, SecretStore, StoredKey
from seatserver.bookings.reconcile import Reconciler
from seatserver.bookings.store import BookingStore
from seatserver.catalog import import_command
from seatserver.catalog.seed import seed_demo
from seatserver.catalog.store import CatalogStore
from seatserver.db import MigrationError, create_pool, migrate
from seatserver.embedded import EmbeddedError, EmbeddedServices
from seatserver.errors import Unavailable
from seatserver.holds import HoldEngine
from seatserver.loadgen import options as loadgen_options
from seatserver.loadgen import runner as loadgen
from seatserver.outbox.worker import OutboxStore
from seatserver.personal import cli as personal_cli
from seatserver.personal.setup import loaded_keys
from seatserver.ports import free_port
from seatserver.redis_client import cluster_mode, connect
from seatserver.serving import is_worker, run_app, run_workers
from seatserver.settings import Settings, SettingsError

log = logging.getLogger("seatserver")


class UsageError(Exception):
    """The command cannot run as configured; the message says what to change."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seatserver", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API, the WebSocket and the pages")
    serve.add_argument("--host", help="address to listen on (default $SEATSERVER_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default $SEATSERVER_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes sharing the port (default 1)")
    commands.add_parser("migrate", help="apply pending migrations to $DATABASE_URL")
    commands.add_parser("reconcile",
                        help="rebuild Redis' booked and pending seats from PostgreSQL")
    outbox = commands.add_parser("outbox", help="confirmation messages that could not be sent")
    outbox_do = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_do.add_parser("dead", help="list messages parked after too many failed deliveries")
    retry = outbox_do.add_parser("retry", help="queue dead messages to be sent again")
    retry.add_argument("ids", type=int, nargs="+", metavar="ID", help="outbox message ids")
    keys = commands.add_parser("secrets", help="the signing keys kept in the database")
    keys_do = keys.add_subparsers(dest="secrets_command", required=True)
    keys_do.add_parser("show", help="print the keys that sign and verify (door scanners "
                                    "need the ticket key)")
    rotate = keys_do.add_parser("rotate", help="make new current keys; the replaced ones "
                                               "still verify for the grace period")
    rotate.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which keys ({', '.join(KEY_NAMES)}; default: all)")
    rotate.add_argument("--grace", type=int, metavar="SECONDS",
                        help="how long replaced keys still verify (default "
                             "$SEATSERVER_SECRET_GRACE, 30 days; 0 after a leak)")
    imports = commands.add_parser("import", help="add or update catalog data from a file")
    import_what = imports.add_subparsers(dest="import_command", required=True)
    movies = import_what.add_parser(
        "movies", help="movies from a CSV or JSON file, idempotent by slug (docs/catalog.md)")
    movies.add_argument("file", type=Path, metavar="FILE", help="a .csv or .json file")
    movies.add_argument("--dry-run", action="store_true",
                        help="report what would be created and updated; change nothing")
    personal_cli.add_parser(commands)
    seed = commands.add_parser("seed", help="add sample data to $DATABASE_URL")
    seed.add_argument("--demo", action="store_true", help="the demo cinema and showtimes")
    loadgen_options.add_parser(commands)
    return parser


# A database that is down, refuses the log-in or does not exist: one line
# saying so, not a traceback (the commands other than serve connect once).
_UNREACHABLE = (OSError, asyncpg.PostgresConnectionError,
                asyncpg.InvalidAuthorizationSpecificationError,
                asyncpg.InvalidCatalogNameError, asyncpg.CannotConnectNowError,
                asyncpg.TooManyConnectionsError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        logs.configure(os.environ.get("SEATSERVER_LOG_FORMAT") or "auto")
    except ValueError as exc:
        print(f"seatserver: SEATSERVER_LOG_FORMAT: {exc}", file=sys.stderr)
        return 2
    if args.command == "loadgen":
        return loadgen.run(loadgen_options.from_args(args))
    try:
        return _command(Settings.from_env(), args)
    except (UsageError, SettingsError, MigrationError, EmbeddedError) as exc:
        log.error("%s", exc)
        return 1 if isinstance(exc, MigrationError | EmbeddedError) else 2
    except _UNREACHABLE as exc:
        if args.command == "serve":
            raise  # serve reports its own start-up failures
        log.error("seatserver %s: cannot reach the database (%s: %s); check DATABASE_URL "
                  "and that PostgreSQL is up", args.command, type(exc).__name__, exc)
        return 1
    except asyncpg.UndefinedTableError as exc:
        if args.command == "serve":
            raise
        log.error("seatserver %s: the database has no such table (%s): run `seatserver "
                  "migrate` against DATABASE_URL first", args.command, exc)
        return 1
    except Unavailable as exc:  # Redis, which reconcile writes to
        if args.command == "serve":
            raise
        log.error("seatserver %s: %s; check REDIS_URL and that Redis is up", args.command, exc)
        return 1


def _command(settings: Settings, args: argparse.Namespace) -> int:
    """Every command but loadgen, with the settings read."""
    if args.command == "serve":
        return serve(settings, host=args.host, port=args.port, workers=args.workers)
    if args.command == "migrate":
        return asyncio.run(_migrate(_database_url(settings)))
    if args.command == "reconcile":
        if not settings.redis_url:
            raise UsageError("REDIS_URL is not set")
        return asyncio.run(_reconcile(settings, _database_url(settings)))
    if args.command == "keys":
        return asyncio.run(personal_cli.run(settings, _database_url(settings), args))
    if args.command == "secrets":
        return asyncio.run(_secrets(settings, _database_url(settings), args))
    if args.command == "outbox":
        return asyncio.run(_outbox(_database_url(settings), args.outbox_command,
                                   getattr(args, "ids", [])))
    if args.command == "import":
        return import_command.run(_database_url(settings), args.file, dry_run=args.dry_run)
    if not args.demo:
        raise UsageError("nothing to seed: pass --demo")
    return asyncio.run(_seed(settings, _database_url(settings)))


def _database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise UsageError("DATABASE_URL is not set (seatserver serve without it "
                         "runs an embedded PostgreSQL and migrates it itself)")
    return settings.database_url


async def _migrate(dsn: str) -> int:
    applied = await migrate(dsn)
    print(f"applied {', '.join(applied)}" if applied else "database is up to date")
    return 0


async def _reconcile(settings: Settings, dsn: str) -> int:
    assert settings.redis_url is not None
    redis = connect(settings.redis_url, cluster=await cluster_mode(settings), max_connections=4,
                    socket_timeout=5.0)
    pool = await create_pool(dsn, 2)
    engine = HoldEngine(redis, hold_ttl_ms=1000, max_seats=1, stream_maxlen=10_000,
                        backstop_ms=0)
    try:
        keys = await loaded_keys(settings, pool)
        done = await Reconciler(BookingStore(pool, keys), engine, check_s=0).run()
    finally:
        await engine.close()
        await redis.aclose()
        await pool.close()
    print(f"reconciled: {done}")
    return 0


async def _outbox(dsn: str, command: str, ids: list[int]) -> int:
    pool = await create_pool(dsn, 2)
    try:
        store = OutboxStore(pool)
        if command == "retry":
            queued = await store.requeue(ids)
            print(f"queued again: {', '.join(map(str, queued)) or 'none'}")
            return 0 if len(queued) == len(set(ids)) else 1
        dead = await store.dead()
    finally:
        await pool.close()
    if not dead:
        print("no dead messages")
    for letter in dead:
        print(f"{letter.id}\t{letter.kind}\t{json.dumps(letter.payload)}\t"
              f"{letter.attempts} attempts\tdead since {letter.dead_at:%Y-%m-%d %H:%M:%S %Z}"
              f"\t{letter.last_error}")
    return 0


def _configured(settings: Settings) -> dict[str, bool]:
    return {"payment": bool(settings.payment_secret), "ticket": bool(settings.ticket_secret)}


async def _secrets(settings: Settings, dsn: str, args: argparse.Namespace) -> int:
    """``show``: the stored keys still valid; ``rotate``: new current keys."""
    names = tuple(dict.fromkeys(getattr(args, "names", None) or KEY_NAMES))
    unknown = [n for n in names if n not in KEY_NAMES]
    if unknown:
        raise UsageError(f"no key named {', '.join(unknown)}: the keys are "
                         f"{', '.join(KEY_NAMES)}")
    grace = settings.secret_grace_s if getattr(args, "grace", None) is None else args.grace
    if grace < 0:
        raise UsageError("--grace must be 0 or more seconds")
    pool = await create_pool(dsn, 2)
    try:
        store = SecretStore(pool)
        await store.ensure()
        rotated = []
        if args.secrets_command == "rotate":
            rotated = [await store.rotate(n, timedelta(seconds=grace)) for n in names]
        valid = await store.valid()
    finally:
        await pool.close()
    configured = _configured(settings)
    for key in rotated:
        print(f"rotated {key.name}: version {key.version} signs from now on; the one it "
              f"replaced verifies for {grace} s more", file=sys.stderr)
        if configured[key.name]:
            print(f"note: SEATSERVER_{key.name.upper()}_SECRET is set here; servers with it "
                  "set use that key, not the stored ones", file=sys.stderr)
    for key in valid:
        print(_key_line(key, configured[key.name]))
    return 0


def _key_line(key: StoredKey, overridden: bool) -> str:
    """name, version, state, key: tab-separated, one key a line."""
    state = ("current" if key.valid_until is None
             else f"valid-until={key.valid_until:%Y-%m-%dT%H:%M:%S%z}")
    if overridden:
        state += ",overridden-by-environment"
    return f"{key.name}\t{key.version}\t{state}\t{key.secret}"


async def _seed(settings: Settings, dsn: str) -> int:
    pool = await create_pool(dsn, 2)
    try:
        ids = await seed_demo(pool)
        staff = await _seed_staff(settings, pool)
    finally:
        await pool.close()
    print(f"demo showtimes: {', '.join(map(str, ids))}")
    for line in staff:
        print(line)
    return 0


async def _seed_staff(settings: Settings, pool: asyncpg.Pool) -> list[str]:
    """The demo's admin and kiosk accounts, as lines to show the operator."""
    keys = await loaded_keys(settings, pool)
    accounts = await seed_staff(pool, keys, admin_password=settings.admin_password,
                                kiosk_password=settings.kiosk_password)
    return [_staff_line(a) for a in accounts]


# Admins must set up two-factor authentication at their first log-in.
_ENROL = ("; log in on /account, then /admin sets up two-factor authentication "
          "(an authenticator app, or `oathtool --totp -b KEY` with the key it shows)")


def _staff_line(account: StaffAccount) -> str:
    if not account.created:
        return f"{account.kind} account {account.email}: exists, left as it is"
    then = _ENROL if account.kind == "admin" else ""
    if account.generated_password:
        return (f"{account.kind} account {account.email} created, password "
                f"{account.generated_password} (shown this once){then}")
    variable = f"SEATSERVER_{account.kind.upper()}_PASSWORD"
    return f"{account.kind} account {account.email} created, password from {variable}{then}"


# A port in use, an address not this machine's, a port below 1024 without root.
CANNOT_LISTEN = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def serve(settings: Settings, *, host: str | None, port: int | None, workers: int) -> int:
    settings = settings.replace(host=host or settings.host,
                                port=settings.port if port is None else port)
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if settings.port == 0 and not is_worker():
        # The public URL (by default) names the port: choose it now.
        settings = settings.replace(port=free_port(settings.host))
    if bool(settings.redis_url) != bool(settings.database_url):
        raise UsageError("set both REDIS_URL and DATABASE_URL, or neither "
                         "to run embedded servers")
    if is_worker():
        return _listening(lambda: run_app(settings, reuse_port=True, announce=None))
    embedded: EmbeddedServices | None = None
    with _SigtermExits() as sigterm:
        try:
            if not settings.redis_url:
                embedded = EmbeddedServices(settings.data_dir)
                settings = settings.with_urls(*embedded.start())
            first, staff = asyncio.run(_prepare(settings, seed=embedded is not None))

            def announce(bound: int) -> None:
                print(f"seatserver is up: {_picker_url(settings, first)}", flush=True)
                for line in staff:
                    print(line, flush=True)

            if workers > 1:
                return _listening(lambda: run_workers(settings, workers, announce=announce))
            return _listening(lambda: run_app(settings, reuse_port=False, announce=announce,
                                              stopping=sigterm.stop_requested))
        finally:
            sigterm.stop_requested()
            if embedded is not None:
                embedded.stop()


def _listening(run: Callable[[], int | None]) -> int:
    """``run``'s exit status (None: 0), or 1 with one line when a port it
    listens on cannot be had."""
    try:
        return run() or 0
    except OSError as exc:
        if exc.errno not in CANNOT_LISTEN:
            raise
        log.error("cannot listen: %s", exc)
        return 1


async def _prepare(settings: Settings, *, seed: bool) -> tuple[int | None, list[str]]:
    """Migrate (and seed the demo when embedded); the first showtime to point at,
    and what to tell about the demo's staff accounts."""
    assert settings.database_url is not None
    applied = await migrate(settings.database_url)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    pool = await create_pool(settings.database_url, 2)
    try:
        if seed:
            return (await seed_demo(pool))[0], await _seed_staff(settings, pool)
        upcoming = await CatalogStore(pool).list_showtimes()
        return (upcoming[0].id if upcoming else None), []
    finally:
        await pool.close()


def _picker_url(settings: Settings, showtime: int | None) -> str:
    """The demo's address as buyers must use it: on the public URL, where the
    payment provider sends them back (their session cookie is for that host)."""
    path = f"/showtimes/{showtime}" if showtime is not None else "/"
    return f"{settings.public_origin}{path}"


class _SigtermExits:
    """Make SIGTERM unwind like Ctrl-C, so that the embedded servers are stopped.

    While the app serves, its event loop handles SIGTERM itself (a graceful
    shutdown); this covers the rest: starting, migrating, stopping. Once the
    shutdown is under way (``stopping``), a further SIGTERM is only logged:
    an orchestrator that signals twice must not cut the embedded servers'
    stop short (it made the process die by the signal, status 143).
    """

    def __init__(self) -> None:
        self.stopping = False
        self._previous: Any = None

    def __enter__(self) -> _SigtermExits:
        self._previous = signal.signal(signal.SIGTERM, self._on_term)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self._previous)

    def stop_requested(self) -> None:
        self.stopping = True

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            log.warning("SIGTERM: already shutting down")
            return
        self.stopping = True
        raise SystemExit(128 + signum)
