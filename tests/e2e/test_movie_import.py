"""The admin page's movie import in Chromium: a file is checked (the dry
run's report, errors by line), then imported on confirmation, found by
accessible names; the section has no serious accessibility findings."""

from __future__ import annotations

import secrets

import asyncpg
from playwright.async_api import expect

from tests.e2e.browsing import Shop
from tests.e2e.staff import open_section
from tests.e2e.test_accessibility import serious_findings
from tests.e2e.test_admin import admin_page, venue


async def test_an_admin_checks_a_file_sees_its_errors_then_imports_a_clean_one(
        shop: Shop) -> None:
    await venue(shop.database_url)
    server = shop.server()
    page = await admin_page(shop, server.url)
    await open_section(page, "Import movies")
    section = page.get_by_role("region", name="Import movies")
    tag = secrets.token_hex(3)
    broken = (f"slug,title,runtime_min\nimp-{tag}-a,First,90\nimp-{tag}-b,Second,\u0669\u0660\n"
              ).encode()
    await section.get_by_label("Movie file (CSV or JSON)").set_input_files(
        files=[{"name": "movies.csv", "mimeType": "text/csv", "buffer": broken}])
    await section.get_by_role("button", name="Check file").click()
    report = section.get_by_role("status")
    await expect(report).to_contain_text("1 would be created")
    await expect(report.get_by_role("listitem")).to_have_text(
        "Line 3, runtime_min: must be a whole number in digits 0-9, got '٩٠'")
    await expect(section.get_by_role("button", name="Import 1 movie")).to_be_hidden()
    assert await serious_findings(page) == []

    clean = broken.replace("\u0669\u0660".encode(), b"95")
    await section.get_by_label("Movie file (CSV or JSON)").set_input_files(
        files=[{"name": "movies.csv", "mimeType": "text/csv", "buffer": clean}])
    await section.get_by_role("button", name="Check file").click()
    await expect(report).to_contain_text("2 would be created")
    pool = await asyncpg.connect(shop.database_url)
    try:
        assert await pool.fetchval("SELECT count(*) FROM movies WHERE slug LIKE $1",
                                   f"imp-{tag}-%") == 0  # checked, not imported
        await section.get_by_role("button", name="Import 2 movies").click()
        await expect(report).to_contain_text("2 were created")
        assert await pool.fetchval("SELECT count(*) FROM movies WHERE slug LIKE $1",
                                   f"imp-{tag}-%") == 2
    finally:
        await pool.close()
    # The movie list above shows them (the import reloads the catalog).
    await expect(page.locator("#movie-list")).to_contain_text("Second (95 min)")
    assert await serious_findings(page) == []
