"""Pages and static files: versioned, cached on purpose, and complete."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from seatserver.http.pages import ERROR_PAGE, PAGES, PageHandlers, Showing, read_assets

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


def site(root: Path, script: str = "export const answer = 42;\n") -> Path:
    for page in (*PAGES.values(), ERROR_PAGE):
        (root / page).parent.mkdir(parents=True, exist_ok=True)
        (root / page).write_text(
            f'<script type="module" src="{{{{static}}}}/{page.split("/")[0]}.js"></script>'
            '<meta name="v" content="{{version}}">')
    (root / "shared").mkdir(exist_ok=True)
    (root / "shared" / "app.js").write_text(script)
    return root


class Catalog:
    """Any showtime or film exists, as for pages that only test serving files."""

    async def showing(self, showtime_id: int) -> Showing | None:
        return Showing("A film", 1, datetime(2100, 1, 1, 20, tzinfo=UTC),
                       datetime(2100, 1, 1, 22, tzinfo=UTC))

    async def film_exists(self, movie_id: int) -> bool:
        return True


async def serve(aiohttp_client: MakeClient, root: Path) -> tuple[Client, PageHandlers]:
    pages = PageHandlers(root, Catalog())
    app = web.Application()
    app.router.add_routes(pages.routes())
    return await aiohttp_client(app), pages


async def test_pages_name_assets_by_version_and_are_revalidated(
        aiohttp_client: MakeClient, tmp_path: Path) -> None:
    client, pages = await serve(aiohttp_client, site(tmp_path))

    for path in ("/", "/showtimes/12", "/kiosk"):
        response = await client.get(path)
        body = await response.text()
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-cache"
        assert f"/static/{pages.version}/" in body
        assert f'content="{pages.version}"' in body
        assert "{{" not in body


async def test_an_unchanged_page_is_answered_not_modified(
        aiohttp_client: MakeClient, tmp_path: Path) -> None:
    client, _ = await serve(aiohttp_client, site(tmp_path))
    etag = (await client.get("/kiosk")).headers["ETag"]

    again = await client.get("/kiosk", headers={"If-None-Match": etag})

    assert again.status == 304


async def test_assets_of_this_version_are_immutable_and_others_are_not_found(
        aiohttp_client: MakeClient, tmp_path: Path) -> None:
    client, pages = await serve(aiohttp_client, site(tmp_path))

    ours = await client.get(f"/static/{pages.version}/shared/app.js")
    older = await client.get("/static/0123456789ab/shared/app.js")
    missing = await client.get(f"/static/{pages.version}/shared/nope.js")
    escape = await client.get(f"/static/{pages.version}/../pyproject.toml")

    assert ours.status == 200
    assert ours.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert ours.headers["Content-Type"].startswith("text/javascript")
    assert await ours.text() == "export const answer = 42;\n"
    assert (older.status, missing.status, escape.status) == (404, 404, 404)


async def test_any_edit_under_web_changes_the_version(
        aiohttp_client: MakeClient, tmp_path: Path) -> None:
    before = PageHandlers(site(tmp_path / "a"), Catalog()).version
    after = PageHandlers(site(tmp_path / "b", "export const answer = 43;\n"), Catalog()).version
    same = PageHandlers(site(tmp_path / "c"), Catalog()).version

    assert before != after
    assert before == same
    client, pages = await serve(aiohttp_client, tmp_path / "b")
    assert await (await client.get("/version")).json() == {"version": pages.version}


@pytest.mark.parametrize("path", ["/showtimes/abc", "/showtimes/", "/kiosk/x"])
async def test_only_the_page_paths_are_pages(aiohttp_client: MakeClient, tmp_path: Path,
                                            path: str) -> None:
    client, _ = await serve(aiohttp_client, site(tmp_path))

    assert (await client.get(path)).status == 404


def test_a_web_dir_without_its_pages_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")

    with pytest.raises(FileNotFoundError, match=r"kiosk/index\.html"):
        PageHandlers(tmp_path, Catalog())


def test_every_asset_the_pages_and_modules_name_exists() -> None:
    """No build step means no bundler to catch a broken path: this does."""
    assets = set(read_assets(WEB_DIR))
    missing = []
    checked = 0
    for name in assets:
        text = (WEB_DIR / name).read_text() if name.endswith((".html", ".js")) else ""
        for target in re.findall(r'\{\{static\}\}/([^"]+)"', text):
            checked += 1
            if target not in assets:
                missing.append(f"{name} -> {target}")
        for target in re.findall(r'^import .*? from "(\.{1,2}/[^"]+)";', text, re.M | re.S):
            checked += 1
            resolved = (Path(name).parent / target).as_posix()
            parts: list[str] = []
            for part in resolved.split("/"):
                if part == "..":
                    parts.pop()
                elif part != ".":
                    parts.append(part)
            if "/".join(parts) not in assets:
                missing.append(f"{name} -> {target}")
    assert missing == []
    assert checked > 20  # the patterns above still match how the files are written
