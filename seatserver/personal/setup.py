"""setup_personal: the personal-data keys, loaded before anything reads a
name or an address, and the values left in clear sealed before serving."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiohttp import web

from seatserver.appkeys import DB_POOL, SETTINGS
from seatserver.lifecycle import Lifecycle, add_feature
from seatserver.personal.cipher import decode_key
from seatserver.personal.keys import PersonalKeys, PersonalKeyStore, parse_configured
from seatserver.personal.rotation import seal_clear_values
from seatserver.settings import Settings

log = logging.getLogger(__name__)

PERSONAL = web.AppKey("personal_keys", PersonalKeys)


def personal_keys(settings: Settings, pool: asyncpg.Pool) -> PersonalKeys:
    """Configured keys, else the generated ones in PostgreSQL (wrapped with the KEK)."""
    if settings.personal_data_keys:
        return PersonalKeys(None, parse_configured(settings.personal_data_keys,
                                                   settings.personal_lookup_key),
                            refresh_s=settings.secret_refresh_s)
    kek = (decode_key(settings.personal_data_kek, "SEATSERVER_PERSONAL_DATA_KEK")
           if settings.personal_data_kek else None)
    return PersonalKeys(PersonalKeyStore(pool, kek),
                        None, refresh_s=settings.secret_refresh_s)


async def loaded_keys(settings: Settings, pool: asyncpg.Pool) -> PersonalKeys:
    """The keys, loaded (generated if none are stored): for commands and tools
    that use the stores without a running app."""
    keys = personal_keys(settings, pool)
    await keys.prepare()
    return keys


async def stored_keys(pool: asyncpg.Pool, kek: bytes | None = None) -> PersonalKeys:
    """The generated keys in PostgreSQL, loaded (tools and tests beside a server)."""
    keys = PersonalKeys(PersonalKeyStore(pool, kek), None)
    await keys.prepare()
    return keys


def setup_personal(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[PERSONAL] = personal_keys(settings, app[DB_POOL])
    add_feature(app, _wire)


def _wire(app: web.Application) -> Lifecycle:
    keys = app[PERSONAL]
    services = Lifecycle()
    services.add("personal data keys", keys)
    services.add("sealing clear personal data", _sealed(app))
    return services


@asynccontextmanager
async def _sealed(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.personal_data_keys and not settings.personal_data_kek:
        log.warning("personal data keys are stored unwrapped in PostgreSQL: set "
                    "SEATSERVER_PERSONAL_DATA_KEK so that a database dump alone opens "
                    "nothing (docs/security.md)")
    sealed = await seal_clear_values(app[DB_POOL], app[PERSONAL].cipher)
    if sealed:
        log.info("sealed %d personal values written before encryption at rest", sealed)
    yield
