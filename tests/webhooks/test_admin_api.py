"""The admin API of webhooks: secrets shown once, audited changes, and hostile input
refused with a 4xx that names the field."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from seatserver.http.roles import Role
from tests.admin.conftest import Admin, audit_rows
from tests.realtime.conftest import ServerFactory
from tests.webhooks.conftest import AdminFactory, url_of

HOOK = "https://hooks.example.com/seatserver"


async def _create(admin: Admin, **extra: Any) -> dict[str, Any]:
    body = {"url": HOOK, "events": ["seat.held", "booking.paid"], **extra}
    created: dict[str, Any] = await admin.ok("POST", "/api/admin/webhooks", body, status=201)
    return created


async def test_the_secret_is_shown_once_and_never_audited(
        admin: Admin, db_pool: asyncpg.Pool) -> None:
    created = await _create(admin, description="Box office")
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    shown = await admin.ok("GET", f"/api/admin/webhooks/{created['id']}")
    listed = await admin.ok("GET", "/api/admin/webhooks")
    assert "secret" not in shown and all("secret" not in e for e in listed["endpoints"])
    assert shown["events"] == ["seat.held", "booking.paid"] and shown["enabled"] is True

    rotated = await admin.ok("POST", f"/api/admin/webhooks/{created['id']}/rotate")
    assert rotated["secret"] != secret and rotated["previous_secret_until"] is not None
    changed = await admin.ok("PATCH", f"/api/admin/webhooks/{created['id']}",
                             {"enabled": False, "showtime": None})
    assert changed["enabled"] is False
    await admin.ok("DELETE", f"/api/admin/webhooks/{created['id']}")
    await admin.refused("GET", f"/api/admin/webhooks/{created['id']}", None, 404, "not_found")

    rows = await audit_rows(db_pool, admin.id)
    assert [r["action"] for r in rows] == ["webhook.created", "webhook.secret_rotated",
                                           "webhook.changed", "webhook.deleted"]
    assert secret not in str(rows) and rotated["secret"] not in str(rows)
    async with db_pool.acquire() as conn:
        remote = await conn.fetchval("SELECT count(*) FROM audit_log WHERE detail::text "
                                     "LIKE '%whsec_%'")
    assert remote == 0


@pytest.mark.parametrize(("url", "says"), [
    ("javascript:alert(1)", "https://"),
    ("ftp://hooks.example.com/x", "https://"),
    ("http://hooks.example.com/x", "https://"),
    ("https://10.0.0.5/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "private"),
    # 10.0.0.1 written the ways a resolver still reads it.
    ("https://10.1/hook", "private"),
    ("https://012.0.0.1/hook", "private"),
    ("https://0xa.0.0.1/hook", "private"),
    ("https://167772161/hook", "private"),
    ("https://printer.local./hook", "local name"),
    ("https://[::ffff:192.168.1.1]/hook", "private"),
    ("https://[fd00::1]/hook", "private"),
    ("https://100.64.0.1/hook", "private"),
    ("https://0.0.0.0/hook", "private"),
    ("https://printer.local/hook", "local name"),
    ("https://intranet/hook", "local name"),
    ("https://user:pw@hooks.example.com/", "user name"),
    ("https://hooks.example.com:99999/", "not a URL"),
    ("https://hooks.example.com/" + "a" * 2100, "2048"),
    ("https://hööks.example.com/", "ASCII"),
    ("https://hooks.example.com/\u0661\u0662", "ASCII"),
    ("https://hooks.example.com/a\tb", "ASCII"),
    ("https:///nohost", "host"),
])
async def test_urls_that_are_not_public_https_are_refused(
        admin: Admin, url: str, says: str) -> None:
    message = await admin.refused("POST", "/api/admin/webhooks",
                                  {"url": url, "events": ["seat.held"]}, 422, "invalid_input")
    assert message.startswith("url:") and says in message


async def test_localhost_only_when_the_setting_allows_it(
        make_server: ServerFactory, admin_at: AdminFactory) -> None:
    strict = await admin_at(url_of(await make_server(webhook_allow_local=False)))
    for url in ("http://127.0.0.1:9/hook", "https://localhost/hook", "https://[::1]/x",
                "https://127.0.0.2/hook", "https://localhost./hook", "https://127.1/hook",
                "https://0x7f.1/hook", "https://2130706433/hook"):
        message = await strict.refused("POST", "/api/admin/webhooks",
                                       {"url": url, "events": ["seat.held"]},
                                       422, "invalid_input")
        assert message.startswith("url:")
    relaxed = await admin_at(url_of(await make_server(webhook_allow_local=True)))
    await relaxed.ok("POST", "/api/admin/webhooks",
                     {"url": "http://127.0.0.1:9/hook", "events": ["seat.held"]}, status=201)
    await relaxed.refused("POST", "/api/admin/webhooks",
                          {"url": "http://10.1.2.3/hook", "events": ["seat.held"]},
                          422, "invalid_input")


@pytest.mark.parametrize(("body", "field"), [
    ({"url": HOOK}, "events"),
    ({"url": HOOK, "events": []}, "events"),
    ({"url": HOOK, "events": ["seat.stolen"]}, "events.0"),
    ({"url": HOOK, "events": ["seat.held", "seat.held"]}, "events"),
    ({"url": HOOK, "events": "seat.held"}, "events"),
    ({"url": HOOK, "events": ["seat.held"] * 5000}, "events"),
    ({"url": HOOK, "events": ["seat.held"], "showtime": "\u0661"}, "showtime"),
    ({"url": HOOK, "events": ["seat.held"], "showtime": 0}, "showtime"),
    ({"url": HOOK, "events": ["seat.held"], "showtime": 2**64}, "showtime"),
    ({"url": HOOK, "events": ["seat.held"], "description": "a\u0007b"}, "description"),
    ({"url": HOOK, "events": ["seat.held"], "description": "x" * 201}, "description"),
    ({"url": HOOK, "events": ["seat.held"], "enabled": "yes please"}, "enabled"),
    ({"url": HOOK, "events": ["seat.held"], "secret": "whsec_mine"}, "secret"),
    ({"url": 5, "events": ["seat.held"]}, "url"),
    ({"url": "", "events": ["seat.held"]}, "url"),
])
async def test_malformed_endpoints_are_refused_naming_the_field(
        admin: Admin, body: dict[str, Any], field: str) -> None:
    message = await admin.refused("POST", "/api/admin/webhooks", body, 422, "invalid_input")
    assert message.startswith(f"{field}:"), message


async def test_hostile_requests_get_a_clear_4xx(admin: Admin) -> None:
    created = await _create(admin)
    path = f"/api/admin/webhooks/{created['id']}"
    status, answer = await admin.call("POST", "/api/admin/webhooks",
                                      {"url": HOOK + "\x00", "events": ["seat.held"]})
    assert status == 400 and "NUL" in answer["error"]["message"]
    status, answer = await admin.call("POST", "/api/admin/webhooks",
                                      {"url": HOOK, "events": ["seat.held"],
                                       "description": "x" * 200_000})
    assert status == 413
    for bad_id in ("\u0661\u0662", "-1", "1e3", "%20"):
        message = await admin.refused("GET", f"/api/admin/webhooks/{bad_id}", None, 400,
                                      "bad_request")
        assert message.startswith("webhook endpoint id must be a whole number"), message
    await admin.refused("GET", "/api/admin/webhooks/" + "9" * 40, None, 404, "not_found")
    await admin.refused("POST", "/api/admin/webhooks/deliveries/\u0661/resend", None, 400,
                        "bad_request")
    await admin.refused("GET", "/api/admin/webhooks/99999999999", None, 404, "not_found")
    await admin.refused("PATCH", path, {}, 422, "invalid_input")
    message = await admin.refused("PATCH", path, {"url": None}, 422, "invalid_input")
    assert message.startswith("url:")
    message = await admin.refused("PATCH", path, {"url": "https://192.168.0.1/"}, 422,
                                  "invalid_input")
    assert message.startswith("url:")
    message = await admin.refused("POST", "/api/admin/webhooks",
                                  {"url": HOOK, "events": ["seat.held"], "showtime": 987654321},
                                  404, "unknown_showtime")
    assert message.startswith("showtime:")
    await admin.refused("GET", path + "/deliveries?limit=\u0665", None, 400, "bad_request")
    await admin.refused("GET", path + "/deliveries?status=lost", None, 400, "bad_request")
    await admin.refused("GET", path + "/deliveries?limit=5&limit=6", None, 400,
                        "bad_request")
    status, _ = await admin.call("POST", "/api/admin/webhooks", None,
                                 headers={"Content-Type": "text/plain"})
    assert status == 400


async def test_a_replayed_request_makes_nothing_twice(admin: Admin,
                                                      db_pool: asyncpg.Pool) -> None:
    created = await _create(admin)
    path = f"/api/admin/webhooks/{created['id']}"
    # The same change twice: the second finds it made; the same delete twice: 404.
    first = await admin.ok("PATCH", path, {"enabled": False})
    again = await admin.ok("PATCH", path, {"enabled": False})
    assert first["enabled"] is again["enabled"] is False
    await admin.ok("DELETE", path)
    await admin.refused("DELETE", path, None, 404, "not_found")
    # A delivery still pending cannot be resent on top of itself.
    async with db_pool.acquire() as conn:
        endpoint = await conn.fetchval(
            "INSERT INTO webhook_endpoints (url, event_types, secret) "
            "VALUES ($1, '{seat.held}', 'whsec_AAAA') RETURNING id", HOOK)
        event = await conn.fetchval(
            "INSERT INTO webhook_events (event_type, showtime_id, body) "
            "VALUES ('seat.held', 1, '{}') RETURNING id")
        delivery = await conn.fetchval(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, showtime_id, "
            "next_attempt_at) VALUES ($1, $2, 1, now() + interval '1 hour') RETURNING id",
            endpoint, event)
    await admin.refused("POST", f"/api/admin/webhooks/deliveries/{delivery}/resend", None,
                        409, "request_in_flight")


async def test_only_admins_reach_the_webhooks_api(as_role: Any) -> None:
    for role in (Role.ANONYMOUS, Role.GUEST, Role.CUSTOMER, Role.KIOSK):
        caller = await as_role(role)
        status, _ = await caller.call("GET", "/api/admin/webhooks")
        assert status in (401, 403), role
        status, _ = await caller.call("POST", "/api/admin/webhooks",
                                      {"url": HOOK, "events": ["seat.held"]})
        assert status in (401, 403), role
