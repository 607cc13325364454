"""The browser pages (picker, kiosk, showtime list) and their static files.

Everything under ``web/`` is read once at start and served from memory under
``/static/<version>/``, where the version is a hash of every file. An HTML page
names its assets through that prefix and is itself revalidated on every load
(``no-cache``), while the assets are cached for a year (``immutable``): a page
and the scripts it runs always come from the same deploy, and relative ES
module imports stay inside the version they were loaded from. A request for
another version's asset is a 404, never today's file under yesterday's name.

``GET /version`` tells a long-lived page (the kiosk) that a new deploy is live.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

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

# Page routes and the file under web/ each one serves.
PAGES = {
    "/": "index.html",
    # [0-9], not \d: that would take other scripts' digits too.
    "/showtimes/{id:[0-9]+}": "picker/index.html",
    "/kiosk": "kiosk/index.html",
    "/account": "account/index.html",
    "/admin": "admin/index.html",
}


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
    """Serves ``web_dir`` as read when constructed; edits need a restart (a deploy)."""

    def __init__(self, web_dir: Path) -> None:
        self._assets = read_assets(web_dir)
        missing = sorted(set(PAGES.values()) - self._assets.keys())
        if missing:
            raise FileNotFoundError(f"pages missing under {web_dir}: {', '.join(missing)}")
        self.version = version_of(self._assets)
        self._etag = f'"{self.version}"'
        static = f"{STATIC_PREFIX}/{self.version}".encode()
        self._pages = {
            name: self._assets[name].body.replace(STATIC_PLACEHOLDER, static)
            .replace(VERSION_PLACEHOLDER, self.version.encode())
            for name in PAGES.values()
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
        @describe("A page of the web app.", content="text/html", also={304: "Not modified"})
        async def page(request: web.Request) -> web.StreamResponse:
            return self.page(request, name)

        return page

    def page(self, request: web.Request, name: str) -> web.Response:
        if "id" in request.match_info:
            path_number(request.match_info["id"], "showtime")  # 404 beyond any id
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
