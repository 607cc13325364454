"""Personal-data tests: a real server on real Redis and PostgreSQL, customers
registered through the API (with real passwords), and the reviews suite's
movie with a show that is over."""

from __future__ import annotations

from pathlib import Path

import pytest

from seatserver.settings import Settings
from tests.conftest import MANY_BUYERS, TEST_COSTS
from tests.reviews import conftest as reviews

http = reviews.http
make_server = reviews.make_server
server = reviews.server
base_url = reviews.base_url
visitor = reviews.visitor
as_role = reviews.as_role
film = reviews.film

# Exports per account per hour in these tests.
EXPORT_LIMIT = 3


@pytest.fixture
def settings(redis_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, hold_ttl_s=60,
                    max_seats=4, heartbeat_s=5.0, rate_per_s=10_000, rate_burst=10_000,
                    sim_duplicate_rate=0.0, sim_reorder_rate=0.0, sim_retry_base_s=0.05,
                    outbox_poll_s=0.05, data_dir=tmp_path / "data",
                    login_limit_account=10, login_limit_address=50, login_window_s=60,
                    export_limit=EXPORT_LIMIT, **MANY_BUYERS, **TEST_COSTS)
