"""``POST /api/sessions``: a guest session, as a token and as a cookie."""

from __future__ import annotations

import orjson
from aiohttp import web

from seatserver.accounts.sessions import SESSION_COOKIE, SESSION_LIFETIME, SessionStore


class SessionHandlers:
    """``secure_cookies`` marks the cookie Secure: set it when served over HTTPS."""

    def __init__(self, store: SessionStore, *, secure_cookies: bool = False) -> None:
        self._store = store
        self._secure = secure_cookies

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/sessions", self.create_session)]

    async def create_session(self, request: web.Request) -> web.Response:
        session = await self._store.create_guest()
        body = {"token": session.token, "user_id": session.user_id,
                "expires_at": session.expires_at}
        response = web.Response(status=201, body=orjson.dumps(body),
                                content_type="application/json")
        # HttpOnly: page scripts never need the token (the WebSocket upgrade
        # carries the cookie); Lax: sent on top-level navigation, not on
        # cross-site subrequests.
        response.set_cookie(
            SESSION_COOKIE, session.token,
            max_age=int(SESSION_LIFETIME.total_seconds()), path="/",
            httponly=True, samesite="Lax", secure=self._secure,
        )
        return response
