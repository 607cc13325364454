"""setup_accounts: sessions, the role gate, sign-up and log-in, guest sessions,
two-factor authentication and staff management."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web

from seatserver.accounts.auth import Authenticator, SecondFactor, Throttles
from seatserver.accounts.cookies import SessionCookies
from seatserver.accounts.http import AccountHandlers, SessionHandlers
from seatserver.accounts.linking import GuestLinker
from seatserver.accounts.messages import KINDS, AccountComposer
from seatserver.accounts.mfa import LogInChallenges, MfaStore, MfaVerifier
from seatserver.accounts.mfa_http import MfaHandlers
from seatserver.accounts.passwords import Passwords
from seatserver.accounts.privacy import PrivacyStore
from seatserver.accounts.privacy_http import PrivacyHandlers
from seatserver.accounts.proxies import TrustedProxies
from seatserver.accounts.rbac import RoleGate
from seatserver.accounts.sessions import SessionStore
from seatserver.accounts.staff import StaffStore
from seatserver.accounts.staff_http import StaffHandlers
from seatserver.accounts.store import AccountStore
from seatserver.accounts.throttle import Throttle
from seatserver.appkeys import DB_POOL, REDIS, SETTINGS
from seatserver.holds.setup import ENGINE
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.outbox.setup import add_composers
from seatserver.personal.setup import PERSONAL
from seatserver.redis_client import RedisClient
from seatserver.settings import Settings

SESSIONS = web.AppKey("sessions", SessionStore)
PROXIES = web.AppKey("proxies", TrustedProxies)
COOKIES = web.AppKey("cookies", SessionCookies)

log = logging.getLogger(__name__)


def setup_accounts(app: web.Application) -> None:
    """The role gate is installed at once: middlewares and start-up steps are
    fixed once the app starts."""
    settings = app[SETTINGS]
    sessions = SessionStore(app[DB_POOL])
    proxies = TrustedProxies(settings.trusted_proxies)
    cookies = SessionCookies(proxies, always_secure=settings.secure_cookies)
    RoleGate(sessions, cookies, settings.allowed_origins).install(app)
    app[SESSIONS], app[PROXIES], app[COOKIES] = sessions, proxies, cookies
    add_composers(app, dict.fromkeys(KINDS, AccountComposer(app[PERSONAL],
                                                           settings.public_origin)))
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    settings, redis = app[SETTINGS], app[REDIS]
    sessions, proxies, cookies = app[SESSIONS], app[PROXIES], app[COOKIES]
    accounts = AccountStore(app[DB_POOL], app[PERSONAL],
                            email_ttl=timedelta(seconds=settings.email_token_ttl_s),
                            reset_ttl=timedelta(seconds=settings.reset_token_ttl_s))
    mfa = MfaStore(app[DB_POOL])
    verifier = MfaVerifier(mfa, Throttle(redis, "mfa:account", limit=settings.mfa_limit,
                                         window_s=settings.login_window_s))
    if settings.password_cost != "standard":
        log.warning("SEATSERVER_PASSWORD_COST=%s: password hashes are cheap to guess; this "
                    "is for test suites, never for real accounts", settings.password_cost)
    passwords = Passwords(concurrency=settings.password_hash_concurrency,
                          cost=settings.password_cost)
    auth = Authenticator(accounts, passwords,
                         GuestLinker(app[ENGINE]), _throttles(redis, settings),
                         SecondFactor(mfa, verifier, LogInChallenges(redis)))
    app.router.add_routes(SessionHandlers(sessions, cookies, proxies,
                                          _guest_sessions(redis, settings)).routes())
    app.router.add_routes(AccountHandlers(auth, accounts, sessions, cookies, proxies).routes())
    app.router.add_routes(MfaHandlers(mfa, verifier, accounts, proxies).routes())
    app.router.add_routes(PrivacyHandlers(
        PrivacyStore(app[DB_POOL], app[PERSONAL]), accounts, auth, (mfa, verifier), app[ENGINE],
        Throttle(redis, "export:account", limit=settings.export_limit, window_s=3600),
        cookies, proxies).routes())
    staff = StaffStore(app[DB_POOL], app[PERSONAL],
                       invite_ttl=timedelta(seconds=settings.email_token_ttl_s))
    app.router.add_routes(StaffHandlers(staff, mfa, proxies).routes())
    return Lifecycle()


def _throttles(redis: RedisClient, settings: Settings) -> Throttles:
    window = settings.login_window_s
    return Throttles(
        login_account=Throttle(redis, "login:account", limit=settings.login_limit_account,
                               window_s=window),
        login_address=Throttle(redis, "login:address", limit=settings.login_limit_address,
                               window_s=window),
        register_address=Throttle(redis, "register:address",
                                  limit=settings.login_limit_address, window_s=window),
        reset_account=Throttle(redis, "reset:account", limit=settings.reset_limit,
                               window_s=window),
        reset_address=Throttle(redis, "reset:address", limit=3 * settings.reset_limit,
                               window_s=window),
        email_change=Throttle(redis, "email:account", limit=settings.email_change_limit,
                              window_s=window),
    )


def _guest_sessions(redis: RedisClient, settings: Settings) -> Throttle | None:
    if not settings.guest_sessions_per_minute:
        return None
    return Throttle(redis, "sessions:address", limit=settings.guest_sessions_per_minute,
                    window_s=60)
