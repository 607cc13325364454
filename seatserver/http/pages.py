"""The browser pages (picker, kiosk, showtime list) and their static files.

Everything under ``web/`` is read once at start and served from memory under
``/static/<version>/``, where the version is a hash of every file. An HTML page
names its assets through that prefix and is itself revalidated on every load
(``no-cache``), while the assets are cached for a year (``immutable``): a page
and the scripts it runs always come from the same deploy, and relative ES
module imports stay inside the version they were loaded from. A request for
another version's asset is a 404, never today's file under yesterday's name.

``GET /version`` tells a long-lived page (the kiosk) that a new deploy is live.

No dead ends: a browser that asks for a page (its Accept prefers HTML) and
gets an error is shown the site's error page (``web/error/index.html``) with
the ways on, never the API's JSON or a traceback; ``/api/…`` and clients
that ask for JSON keep the JSON. The picker's page of an unknown showtime is
that 404 page, and of a showtime that is over a 410 page saying so, linking
the film's page (its reviews and other showtimes) and the listings.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from seatserver.http.errors import ERROR_CODE
from seatserver.http.openapi import describe
from seatserver.http.params import path_number
from seatserver.http.responses import NO_STORE, PAGE_HEADERS, json_response
from seatserver.http.roles import Role, allow

STATIC_PREFIX = "/static"
VERSION_LENGTH = 12
# The placeholders a page may use; filled in once at start.
STATIC_PLACEHOLDER = b"{{static}}"
VERSION_PLACEHOLDER = b"{{version}}"

PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

# What /account's `?next=` (the Back link) may be: a path of ours as the picker
# links it, in segments of unreserved characters, none "." or "..". Anything
# else (a backslash, a tab, "//", another site) is dropped by a redirect, and
# the page's script judges what is left again as the browser will follow it.
SAME_SITE_PATH = re.compile(r"/|(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?")
ACCOUNT_PAGE = "account/index.html"
PICKER_PAGE = "picker/index.html"
FILM_PAGE = "film/index.html"
ERROR_PAGE = "error/index.html"

# Page routes and the file under web/ each one serves.
PAGES = {
    "/": "index.html",
    # [0-9], not \d: that would take other scripts' digits too.
    "/showtimes/{id:[0-9]+}": PICKER_PAGE,
    "/films/{id:[0-9]+}": FILM_PAGE,
    "/kiosk": "kiosk/index.html",
    "/account": "account/index.html",
    "/admin": "admin/index.html",
    "/counter": "admin/counter/index.html",
}


Link = tuple[str, str]  # (href, text)
HOME_LINKS: tuple[Link, ...] = (("/", "All showtimes"), ("/account", "Your account"))


@dataclass(frozen=True, slots=True)
class DeadEnd:
    """An error page: what went wrong in words, and where to go instead."""

    status: int
    title: str
    message: str
    links: tuple[Link, ...] = HOME_LINKS


# By error code first (the more telling), then by status.
DEAD_ENDS = {
    "unknown_showtime": DeadEnd(404, "Showtime not found",
                                "There is no showtime at this address: it may have been "
                                "removed, or the link is mistyped."),
    404: DeadEnd(404, "Page not found",
                 "There is nothing at this address: it may be mistyped, or what was "
                 "here has been removed."),
    400: DeadEnd(400, "This address cannot be read",
                 "Part of this address is not as the site writes it. Start again from "
                 "the list of showtimes."),
    401: DeadEnd(401, "Please log in",
                 "This page is for signed-in people. Log in on your account page."),
    403: DeadEnd(403, "Not for this account",
                 "Your account may not open this page."),
    405: DeadEnd(405, "Not something this page does",
                 "This address exists, but not for this kind of request."),
    429: DeadEnd(429, "Too many requests",
                 "Too many requests came from your connection. Wait a minute, then "
                 "reload the page."),
    500: DeadEnd(500, "Something went wrong on our side",
                 "The page could not be shown. It is not your fault: please try again "
                 "in a moment."),
    503: DeadEnd(503, "Temporarily unavailable",
                 "Part of the service cannot be reached right now. Please try again in "
                 "a moment."),
}


def dead_end_for(status: int, code: str | None) -> DeadEnd:
    """The error page of an error answer's code or status (any other: a generic one)."""
    known = DEAD_ENDS.get(code or "") or DEAD_ENDS.get(status)
    if known is not None and known.status == status:
        return known
    if status >= 500:
        return DeadEnd(status, DEAD_ENDS[500].title, DEAD_ENDS[500].message)
    return DeadEnd(status, "This page cannot be shown",
                   "The request could not be answered. Start again from the list of "
                   "showtimes.")


@dataclass(frozen=True, slots=True)
class Showing:
    """What the picker's page needs to know of its showtime before it is sent."""

    title: str
    movie_id: int
    # In the theater's time zone, as the page would show it.
    starts_at: datetime
    ends_at: datetime


class PageLookup(Protocol):
    """The catalog, as far as the pages ask it whether what they show exists."""

    async def showing(self, showtime_id: int) -> Showing | None: ...

    async def film_exists(self, movie_id: int) -> bool: ...


_PLACEHOLDER = re.compile(rb"\{\{(status|title|message|links)\}\}")
_ACCEPT_PART = re.compile(r"\s*([a-z0-9!#$%&'*+.^_`|~-]+)/([a-z0-9!#$%&'*+.^_`|~-]+)\s*(;.*)?",
                          re.ASCII)
_Q = re.compile(r";\s*q\s*=\s*(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\s*(?:;|$)", re.ASCII)
_ACCEPT_MAX = 2048  # characters of an Accept header read; browsers send ~150


def _quality(accept: list[tuple[str, str, float]], kind: str, sub: str) -> float:
    """The q of the most specific range in ``accept`` matching kind/sub (RFC 9110 12.5.1)."""
    best, specificity = 0.0, -1
    for a_kind, a_sub, q in accept:
        if a_kind == "*" and a_sub == "*":
            rank = 0
        elif a_kind == kind and a_sub == "*":
            rank = 1
        elif a_kind == kind and a_sub == sub:
            rank = 2
        else:
            continue
        if rank > specificity:
            best, specificity = q, rank
    return best


def prefers_html(request: web.Request) -> bool:
    """Whether the request asks for a page: its Accept rates HTML above JSON.

    A browser's navigation does (text/html before */*); fetch() and most
    clients send */* or nothing, a tie, which stays JSON. ``/api/…`` is JSON.
    """
    if request.path.startswith("/api/"):
        return False
    accept: list[tuple[str, str, float]] = []
    for part in request.headers.get("Accept", "")[:_ACCEPT_MAX].lower().split(","):
        found = _ACCEPT_PART.fullmatch(part)
        if found is None:
            continue  # an unreadable range counts for nothing
        q = _Q.search(found.group(3) or "")
        has_q = found.group(3) and "q" in found.group(3)
        if has_q and q is None:
            continue
        accept.append((found.group(1), found.group(2), float(q.group(1)) if q else 1.0))
    html_q = max(_quality(accept, "text", "html"),
                 _quality(accept, "application", "xhtml+xml"))
    return html_q > _quality(accept, "application", "json")


def error_pages(pages: Callable[[], PageHandlers | None]) -> Middleware:
    """Swaps an error answer for the error page when the request asks for a page.

    Sits outside ``error_middleware``: only its answers (``ERROR_CODE``) are
    swapped, keeping their status and headers (Allow, Retry-After). ``pages``
    gives the page handlers once the app has started (None before).
    """
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if ERROR_CODE not in response or not prefers_html(request):
            return response
        handlers = pages()
        if handlers is None:
            return response
        page = handlers.dead_end(dead_end_for(response.status, response[ERROR_CODE]))
        for name in ("Allow", "Retry-After"):
            if name in response.headers:
                page.headers[name] = response.headers[name]
        return page

    return middleware


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


def read_assets(web_dir: Path) -> dict[str, Asset]:
    """Every non-hidden file under ``web_dir`` by its POSIX path relative to it."""
    assets: dict[str, Asset] = {}
    for path in sorted(web_dir.rglob("*")):
        relative = path.relative_to(web_dir)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        assets[relative.as_posix()] = Asset(path.read_bytes(), content_type)
    return assets


def version_of(assets: dict[str, Asset]) -> str:
    """A short hash of every file's name and content: it changes with any edit."""
    digest = hashlib.sha256()
    for name in sorted(assets):
        body = assets[name].body
        digest.update(f"{name}\0{len(body)}\0".encode())
        digest.update(body)
    return digest.hexdigest()[:VERSION_LENGTH]


class PageHandlers:
    """Serves ``web_dir`` as read when constructed; edits need a restart (a deploy).

    ``lookup`` tells whether a showtime or film a page is asked for exists.
    """

    def __init__(self, web_dir: Path, lookup: PageLookup) -> None:
        self._assets = read_assets(web_dir)
        self._lookup = lookup
        missing = sorted({*PAGES.values(), ERROR_PAGE} - self._assets.keys())
        if missing:
            raise FileNotFoundError(f"pages missing under {web_dir}: {', '.join(missing)}")
        self.version = version_of(self._assets)
        self._etag = f'"{self.version}"'
        static = f"{STATIC_PREFIX}/{self.version}".encode()
        self._pages = {
            name: self._assets[name].body.replace(STATIC_PLACEHOLDER, static)
            .replace(VERSION_PLACEHOLDER, self.version.encode())
            for name in {*PAGES.values(), ERROR_PAGE}
        }

    def routes(self) -> list[web.RouteDef]:
        routes = [web.get(path, self._page_handler(name)) for path, name in PAGES.items()]
        routes += [
            web.get(STATIC_PREFIX + "/{version}/{path:.+}", self.asset),
            web.get("/version", self.current_version),
        ]
        return routes

    def _page_handler(self, name: str) -> Handler:
        # Pages are public: what they show comes from the API, which checks.
        @allow(Role.ANONYMOUS)
        @describe("A page of the web app.", content="text/html",
                  also={304: "Not modified", 404: "No such showtime or film (an HTML page)",
                        410: "The showtime is over (an HTML page)"})
        async def page(request: web.Request) -> web.StreamResponse:
            if name in (PICKER_PAGE, FILM_PAGE):
                dead_end = await self._missing(request, name)
                if dead_end is not None:
                    return self.dead_end(dead_end)
            return self.page(request, name)

        return page

    async def _missing(self, request: web.Request, name: str) -> DeadEnd | None:
        """The error page instead of a picker or film page with nothing to show."""
        if name == FILM_PAGE:
            movie_id = path_number(request.match_info["id"], "film")  # 404 beyond any id
            if await self._lookup.film_exists(movie_id):
                return None
            return DeadEnd(404, "Film not found",
                           "There is no film at this address: it may have been removed, "
                           "or the link is mistyped.")
        showtime_id = path_number(request.match_info["id"], "showtime")
        showing = await self._lookup.showing(showtime_id)
        if showing is None:
            return DEAD_ENDS["unknown_showtime"]
        if showing.ends_at > datetime.now(showing.ends_at.tzinfo):
            return None
        start = showing.starts_at
        return DeadEnd(
            410, "This showtime is over",
            f"{showing.title} on {start:%A} {start.day} {start:%B %Y} at {start:%H:%M} has "
            "ended, so its seats can no longer be chosen. Saw it? Review it on the "
            "film's page.",
            ((f"/films/{showing.movie_id}", f"{showing.title}: reviews and showtimes"),
             ("/", "All showtimes")))

    def dead_end(self, dead_end: DeadEnd) -> web.Response:
        """The error page: the site's look, what went wrong and the ways on."""
        links = "\n".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>'
                          for href, text in dead_end.links)
        fills = {b"status": str(dead_end.status).encode(),
                 b"title": html.escape(dead_end.title).encode(),
                 b"message": html.escape(dead_end.message).encode(),
                 b"links": links.encode()}
        # One pass: a film's title that reads "{{links}}" stays text.
        body = _PLACEHOLDER.sub(lambda m: fills[m.group(1)], self._pages[ERROR_PAGE])
        return web.Response(status=dead_end.status, body=body,
                            headers={"Cache-Control": "no-store", **PAGE_HEADERS},
                            content_type="text/html", charset="utf-8")

    def page(self, request: web.Request, name: str) -> web.Response:
        back = request.query.get("next")
        if name == ACCOUNT_PAGE and back is not None and not SAME_SITE_PATH.fullmatch(back):
            raise web.HTTPSeeOther(request.rel_url.without_query_params("next"))
        headers = {
            "Cache-Control": PAGE_CACHE,
            "ETag": self._etag,
            **PAGE_HEADERS,
        }
        # A page changes only with the version, so the version is its ETag.
        if self._etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=self._pages[name], headers=headers,
                            content_type="text/html", charset="utf-8")

    @allow(Role.ANONYMOUS)
    @describe("A static file of the current version.", content="application/octet-stream",
              errors=[404])
    async def asset(self, request: web.Request) -> web.Response:
        # Path traversal is moot: only names read at start are ever served.
        asset = self._assets.get(request.match_info["path"])
        if request.match_info["version"] != self.version or asset is None:
            raise web.HTTPNotFound(reason="no such file in this version")
        return web.Response(body=asset.body, headers={
            "Content-Type": asset.content_type,
            "Cache-Control": ASSET_CACHE,
            "X-Content-Type-Options": "nosniff",
        })

    @allow(Role.ANONYMOUS)
    @describe("The web app's current version.")
    async def current_version(self, request: web.Request) -> web.Response:
        return json_response({"version": self.version}, headers=NO_STORE)
