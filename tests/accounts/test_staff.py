"""Staff management through the wire: the list, invitations, role changes,
disabling, MFA resets; re-authentication before each, the last admin kept,
and every change in the audit log with who made it."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from seatserver.accounts.sessions import token_hash
from tests.accounts.conftest import (
    PASSWORD,
    Visitor,
    VisitorFactory,
    link_token,
    message_to,
    new_email,
)
from tests.accounts.mfa_support import Enrolled, code, enrol, new_staff


async def admin_of(visitor: VisitorFactory, db_pool: asyncpg.Pool
                   ) -> tuple[int, Visitor, Enrolled]:
    """A new admin, logged in and enrolled (so with a fresh code)."""
    user_id, email = await new_staff(db_pool)
    admin = await visitor()
    await admin.log_in(email)
    return user_id, admin, await enrol(admin)


async def age_code(db_pool: asyncpg.Pool, visitor: Visitor, minutes: int = 6) -> None:
    """The visitor's session proved its code ``minutes`` ago."""
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE sessions SET mfa_at = now() - make_interval(mins => $2) "
            "WHERE token_hash = $1", token_hash(visitor.token or ""), minutes)


async def audit_rows(db_pool: asyncpg.Pool, action: str, actor_id: int) -> list[asyncpg.Record]:
    async with db_pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM audit_log WHERE action = $1 AND actor = $2",
                                action, f"user:{actor_id}")


async def test_a_role_change_needs_a_recent_code(visitor: VisitorFactory,
                                                 db_pool: asyncpg.Pool) -> None:
    admin_id, admin, enrolled = await admin_of(visitor, db_pool)
    kiosk_id, _ = await new_staff(db_pool, "kiosk")
    await age_code(db_pool, admin)

    stale = await admin.call("PATCH", f"/api/admin/staff/{kiosk_id}", {"kind": "admin"})
    proved = await admin.call("POST", "/api/auth/mfa/verify", {"code": code(enrolled.secret)})
    changed = await admin.call("PATCH", f"/api/admin/staff/{kiosk_id}", {"kind": "admin"})

    assert (stale[0], stale[1]["error"]["code"]) == (403, "reauth_required")
    assert proved[0] == 200
    assert (changed[0], changed[1]["kind"]) == (200, "admin")
    [row] = await audit_rows(db_pool, "staff.changed", admin_id)
    assert '"kiosk"' in row["detail"] and '"admin"' in row["detail"]


async def test_an_admin_cannot_take_away_their_own_admin_role(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    admin_id, admin, _ = await admin_of(visitor, db_pool)

    own = await admin.call("PATCH", f"/api/admin/staff/{admin_id}", {"kind": "kiosk"})
    disable_self = await admin.call("PATCH", f"/api/admin/staff/{admin_id}",
                                    {"disabled": True})
    other_id, _ = await new_staff(db_pool)
    demote_other = await admin.call("PATCH", f"/api/admin/staff/{other_id}",
                                    {"kind": "kiosk"})

    assert (own[0], own[1]["error"]["code"]) == (409, "last_admin")
    assert (disable_self[0], disable_self[1]["error"]["code"]) == (409, "last_admin")
    assert demote_other[0] == 200  # another admin's role is fine to change


async def test_disabling_ends_the_sessions_and_the_log_ins(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    _, admin, _ = await admin_of(visitor, db_pool)
    kiosk_id, kiosk_email = await new_staff(db_pool, "kiosk")
    board = await visitor()
    await board.log_in(kiosk_email)

    done = await admin.call("PATCH", f"/api/admin/staff/{kiosk_id}", {"disabled": True})
    me = await board.call("GET", "/api/me")
    again = await board.call("POST", "/api/auth/login",
                             {"email": kiosk_email, "password": PASSWORD})
    listed = await admin.call("GET", "/api/admin/staff")

    assert (done[0], done[1]["disabled"]) == (200, True)
    assert me[0] == 401
    assert (again[0], again[1]["error"]["code"]) == (401, "invalid_credentials")
    assert {"id": kiosk_id, "disabled": True}.items() <= \
        next(m for m in listed[1]["staff"] if m["id"] == kiosk_id).items()


async def test_an_invitation_sends_a_link_that_sets_the_password(
        visitor: VisitorFactory, db_pool: asyncpg.Pool, outbox_dir: Path) -> None:
    admin_id, admin, _ = await admin_of(visitor, db_pool)
    email = new_email()

    status, member = await admin.call("POST", "/api/admin/staff",
                                      {"email": email, "name": "Box Office", "kind": "admin"})
    token = link_token(await message_to(outbox_dir, email, "account_reset_password"), "reset")
    set_password = await admin.call("POST", "/api/auth/password-reset/confirm",
                                    {"token": token, "password": "a new long password"})
    newcomer = await visitor()
    logged_in = await newcomer.log_in(email, "a new long password")
    refused = await newcomer.call("GET", "/api/admin/staff")

    assert (status, member["kind"], member["mfa_enrolled"]) == (201, "admin", False)
    assert set_password[0] == 204
    assert logged_in["user"]["kind"] == "admin"
    assert refused[1]["error"]["code"] == "mfa_enrolment_required"
    assert len(await audit_rows(db_pool, "staff.invited", admin_id)) == 1


async def test_an_mfa_reset_ends_the_sessions_and_makes_them_enrol_again(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    admin_id, admin, _ = await admin_of(visitor, db_pool)
    other_id, other_email = await new_staff(db_pool)
    other = await visitor()
    await other.log_in(other_email)
    await enrol(other)

    status, _ = await admin.call("POST", f"/api/admin/staff/{other_id}/mfa-reset")
    ended = await other.call("GET", "/api/me")
    logged_in = await other.log_in(other_email)  # no code asked: not enrolled any more
    refused = await other.call("GET", "/api/admin/staff")

    assert status == 204
    assert ended[0] == 401
    assert logged_in["user"]["id"] == other_id
    assert refused[1]["error"]["code"] == "mfa_enrolment_required"
    assert len(await audit_rows(db_pool, "staff.mfa_reset", admin_id)) == 1


async def test_hostile_staff_changes_are_answered_not_crashed(
        visitor: VisitorFactory, db_pool: asyncpg.Pool) -> None:
    _, admin, _ = await admin_of(visitor, db_pool)
    answers = [
        await admin.call("PATCH", "/api/admin/staff/99999999999999999999999", {"kind": "admin"}),
        await admin.call("PATCH", "/api/admin/staff/١٢", {"kind": "admin"}),
        await admin.call("PATCH", "/api/admin/staff/1", {"kind": "root"}),
        await admin.call("PATCH", "/api/admin/staff/1", {}),
        await admin.call("PATCH", "/api/admin/staff/1", {"disabled": "yes"}),
        await admin.call("POST", "/api/admin/staff", {"email": "a\x00@example.com",
                                                      "kind": "admin"}),
        await admin.call("POST", "/api/admin/staff", {"email": new_email(),
                                                      "kind": "customer"}),
        await admin.call("POST", "/api/admin/staff", {"email": new_email(), "kind": "admin",
                                                      "name": "x" * 10_000}),
        await admin.call("POST", "/api/admin/staff/987654321/mfa-reset"),
    ]
    assert [status for status, _ in answers] == [404, 400, 422, 422, 422, 400, 422, 422, 404]
