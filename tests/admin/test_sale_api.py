"""Sale settings through the admin API: set, change live, back to the
defaults, audited; hostile input is a 4xx with a clear code, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from seatserver.http.roles import Role
from tests.admin.conftest import Admin

VALID = {"on_sale_at": "2031-05-01T10:00:00+02:00", "waiting_room": True,
         "admission_rate": 120, "active_cap": 500, "admission_ttl_s": 600}


@pytest.fixture(autouse=True)
async def no_sale_settings_left(db_pool: asyncpg.Pool) -> AsyncIterator[None]:
    yield
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM showtime_sales")


async def test_sale_settings_are_set_changed_live_and_reset(
        admin: Admin, demo: list[int], db_pool: asyncpg.Pool) -> None:
    path = f"/api/admin/showtimes/{demo[0]}/sale"
    before = await admin.ok("GET", path)
    assert (before["source"], before["waiting_room"], before["on_sale_at"]) == (
        "default", False, None)
    # No default on-sale time configured: none applies.
    assert (before["on_sale_source"], before["on_sale_before_s"]) == ("none", None)
    saved = await admin.ok("PUT", path, VALID)
    assert saved["source"] == "showtime" and saved["admission_rate"] == 120
    assert saved["on_sale_at"].startswith("2031-05-01T08:00:00")
    assert saved["on_sale_source"] == "showtime"
    patched = await admin.ok("PATCH", path, {"active_cap": 50})
    assert (patched["active_cap"], patched["admission_rate"]) == (50, 120)
    assert (await admin.ok("GET", path)) == patched
    queue = await admin.ok("GET", f"/api/showtimes/{demo[0]}/queue")
    assert queue["waiting_room"] and queue["waiting"] == 0
    assert (await admin.ok("DELETE", path))["source"] == "default"
    async with db_pool.acquire() as conn:
        actions = await conn.fetch("SELECT action FROM audit_log WHERE actor = $1",
                                   f"user:{admin.id}")
    assert [r["action"] for r in actions].count("showtime.sale_changed") == 3


@pytest.mark.parametrize(("body", "field"), [
    ({**VALID, "admission_rate": -1}, "admission_rate"),
    ({**VALID, "admission_rate": 10**12}, "admission_rate"),
    ({**VALID, "admission_rate": "120"}, "admission_rate"),
    ({**VALID, "admission_rate": 1.5}, "admission_rate"),
    ({**VALID, "admission_rate": True}, "admission_rate"),
    ({**VALID, "active_cap": None}, "active_cap"),
    ({**VALID, "admission_ttl_s": 59}, "admission_ttl_s"),
    ({**VALID, "admission_ttl_s": 86_401}, "admission_ttl_s"),
    ({**VALID, "waiting_room": "yes"}, "waiting_room"),
    ({**VALID, "waiting_room": 1}, "waiting_room"),
    ({**VALID, "on_sale_at": "2031-05-01T10:00:00"}, "on_sale_at"),
    ({**VALID, "on_sale_at": "tomorrow"}, "on_sale_at"),
    ({**VALID, "on_sale_at": "9999-12-31T23:59:59+00:00"}, "on_sale_at"),
    ({**VALID, "on_sale_at": 1_900_000_000}, "on_sale_at"),
    ({**VALID, "admission_rate": 0, "active_cap": 0}, "a waiting room needs"),
    ({**VALID, "surprise": 1}, "surprise"),
    ({k: v for k, v in VALID.items() if k != "waiting_room"}, "waiting_room"),
])
async def test_hostile_sale_settings_are_refused_by_field(
        admin: Admin, demo: list[int], body: dict[str, Any], field: str) -> None:
    path = f"/api/admin/showtimes/{demo[0]}/sale"
    for method in ("PUT", "PATCH"):
        if method == "PATCH" and field == "waiting_room" and "waiting_room" not in body:
            continue  # a patch may leave fields out
        message = await admin.refused(method, path, body, 422, "invalid_input")
        assert field in message, message


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/admin/showtimes/999999/sale", 404, "unknown_showtime"),
    ("/api/admin/showtimes/abc/sale", 400, "bad_request"),
    ("/api/admin/showtimes/99999999999999999999999/sale", 404, "not_found"),
])
async def test_sale_settings_of_no_showtime(admin: Admin, path: str, status: int,
                                            code: str) -> None:
    await admin.refused("PUT", path, VALID, status, code)
    await admin.refused("GET", path, None, status, code)


async def test_a_body_that_is_not_an_object_is_a_bad_request(admin: Admin,
                                                             demo: list[int]) -> None:
    path = f"/api/admin/showtimes/{demo[0]}/sale"
    for body in ([1, 2], "text", 5):
        await admin.refused("PUT", path, body, 400, "bad_request")


async def test_only_admins_set_sale_settings(as_role: Any, demo: list[int]) -> None:
    for role in (Role.ANONYMOUS, Role.GUEST, Role.CUSTOMER, Role.KIOSK):
        caller = await as_role(role)
        status, _ = await caller.call("PUT", f"/api/admin/showtimes/{demo[0]}/sale", VALID)
        assert status in (401, 403)
