"""schemathesis against the live server's own /api/openapi.json, as an admin,
a customer and anonymously: no route answers 5xx, and every answer has a
status, content type and (for JSON) a shape its operation documents.

A real ``seatserver serve`` on a database of this module's own (the admin's
fuzzing creates and deletes catalog entries that other tests must not meet)
and the test Redis. Bounded by ``MAX_EXAMPLES`` per operation and role (and
``NEGATIVE_EXAMPLES`` of schemathesis' negative mode alone: data that breaks
the schema, which must get a 4xx): the whole file takes about half a minute
on a 2-core machine. Deterministic (derandomized), so a failure here is
reproducible; ``FUZZ_EXAMPLES`` / ``FUZZ_NEGATIVE_EXAMPLES`` run more by hand.
A server that logged a traceback fails the test too (``tests/tracebacks.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from seatserver.accounts.sessions import open_session
from seatserver.db import create_pool
from seatserver.http.roles import Role
from tests import tracebacks
from tests.e2e.conftest import migrate_and_seed
from tests.e2e.server import Server
from tests.services import Services, drop_database, make_database, run_sync

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
NEGATIVE_EXAMPLES = int(os.environ.get("FUZZ_NEGATIVE_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Invalid data: never a 5xx, always refused (a 4xx); what it answers must be documented.
NEGATIVE_CHECKS = [not_a_server_error, negative_data_rejection, status_code_conformance,
                   content_type_conformance]


@dataclass(frozen=True)
class LiveApi:
    url: str
    tokens: dict[Role, str]
    server: Server

    def tracebacks(self) -> list[str]:
        """Tracebacks the server has logged so far (its output is kept whole)."""
        assert self.server.log is not None
        self.server.log.seek(0)
        output = self.server.log.read().decode(errors="replace")
        watch = tracebacks.TracebackWatch()
        watch.server_output("fuzzed server", output)
        return watch.found


async def _session(database_url: str, role: Role) -> str:
    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as conn:
            user_id = await conn.fetchval(
                "INSERT INTO users (kind, email, password_hash) VALUES ($1, $2, $3) RETURNING id",
                role.value, f"fuzz-{role.value}@example.com", "$argon2id$not-a-real-hash")
            return (await open_session(conn, user_id, mfa=True)).token
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def live_api(services: Services) -> Iterator[LiveApi]:
    name, dsn = make_database(services.database_url, prefix="seatserver_fuzz")
    server = None
    try:
        run_sync(migrate_and_seed(dsn))
        tokens = {role: run_sync(_session(dsn, role)) for role in (Role.ADMIN, Role.CUSTOMER)}
        server = Server(services.redis_url, dsn).start()
        yield LiveApi(server.url, tokens, server)
    finally:
        if server is not None:
            server.close()
        drop_database(services.database_url, name)


def operations(live_api: LiveApi, role: Role, *, negative: bool = False) -> list[APIOperation]:
    """The live document's operations, sending the Bearer token of ``role``."""
    schema = schemathesis.openapi.from_url(f"{live_api.url}/api/openapi.json")
    token = live_api.tokens.get(role)
    if token is not None:
        schema.config.update(headers={"Authorization": f"Bearer {token}"})
        if negative:
            # Not the security schemes' parameters: schemathesis never breaks them (see
            # `breakable`) yet counts the Authorization header as breakable: the cases that
            # picked only it broke nothing and were rejected (2,140 draws for the admin's
            # 810 requests, 1,218 without). Sent, the generated header gave way to the
            # token above and the generated session cookie went unread (a Bearer token
            # wins over it): the same requests, as far as the server is concerned.
            schema.config.generation.update(with_security_parameters=False)
        # Log-out would end the very session being fuzzed (anonymous callers cover it).
        schema = schema.exclude(method="POST", path="/api/auth/logout")
        # Erasing an account on request would erase the other role's fuzzing
        # account (its hostile input is tested in tests/privacy).
        schema = schema.exclude(method="POST", path="/api/admin/users/{id}/erase")
    # Only what the role may call: the rest is refused (401/403) before any input is read.
    allowed = {role.value, Role.ANONYMOUS.value}
    return [op for op in (result.ok() for result in schema.get_all_operations())
            if allowed & set(op.definition.raw["x-roles"])]


def fuzz(operation: APIOperation, http: requests.Session) -> None:
    """Valid and invalid requests of one operation; raises on the first failed check."""
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))
    _run(cases, MAX_EXAMPLES, CHECKS, http)


def fuzz_negative(operation: APIOperation, http: requests.Session) -> None:
    """Requests that break the operation's schema; raises on the first failed check."""
    if not breakable(operation):
        return
    _run(operation.as_strategy(GenerationMode.NEGATIVE), NEGATIVE_EXAMPLES, NEGATIVE_CHECKS,
         http)


def breakable(operation: APIOperation) -> bool:
    """Whether schemathesis' negative mode can break anything of the operation's input.

    Not of one with no body and no parameter but bare ``{"type": "string"}``
    path values (any string is valid; schemathesis sends valid ones, see
    ``can_negate_path_parameters``), only the security schemes' Authorization
    header and session cookie besides (which it never breaks): it rejects every
    case for breaking nothing, and Hypothesis gives up (Unsatisfiable) only
    after ~460 rejected draws without sending a single request - 29 of the
    admin's 110 operations, a third of its run, all of them Unsatisfiable.
    """
    definition = operation.definition.raw
    return "requestBody" in definition or any(
        parameter.get("in") != "path" or parameter.get("schema") != {"type": "string"}
        for parameter in definition.get("parameters", []))  # (none on path items)


def _run(cases: st.SearchStrategy[schemathesis.Case], examples: int,
         checks: list[Any], http: requests.Session) -> None:
    @given(cases)
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(session=http, checks=checks, timeout=10)

    run()


ROLES = [Role.ADMIN, Role.CUSTOMER, Role.ANONYMOUS]


def fuzz_all(live_api: LiveApi, role: Role, fuzz_one: Callable[..., None]) -> None:
    failed = {}
    with requests.Session() as http:
        for operation in operations(live_api, role, negative=fuzz_one is fuzz_negative):
            try:
                fuzz_one(operation, http)
            except Unsatisfiable:
                pass  # nothing to break: a route without parameters or body constraints
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
                failed[operation.label] = exc
    assert not failed, "\n\n".join(f"{label}: {exc}"[:2000] for label, exc in failed.items())
    assert not live_api.tracebacks(), live_api.tracebacks()[:3]


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_no_route_fails_or_answers_what_it_does_not_document(
        live_api: LiveApi, role: Role) -> None:
    fuzz_all(live_api, role, fuzz)


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_every_route_refuses_data_that_breaks_its_schema_with_a_4xx(
        live_api: LiveApi, role: Role) -> None:
    fuzz_all(live_api, role, fuzz_negative)
