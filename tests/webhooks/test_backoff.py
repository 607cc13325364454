"""The webhook back-off: doubling from its base, capped, jittered."""

from __future__ import annotations

import pytest

from seatserver.settings import Settings
from seatserver.webhooks.sender import backoff


@pytest.mark.parametrize(("attempts", "ceiling"), [
    (1, 5.0), (2, 10.0), (3, 20.0), (10, 2560.0), (11, 3600.0), (100, 3600.0)])
def test_retries_wait_twice_as_long_each_time_up_to_the_cap(attempts: int,
                                                             ceiling: float) -> None:
    delays = [backoff(attempts, 5.0, 3600.0) for _ in range(200)]

    assert all(ceiling / 2 <= d <= ceiling for d in delays), (min(delays), max(delays))
    assert len(set(delays)) > 1  # jittered: queues that failed together spread out


def test_the_defaults_give_a_dead_endpoint_the_hours_the_docs_say() -> None:
    # docs/configuration.md: with the defaults, 2¾ to 5½ hours per event before
    # a delivery is dead (the waits between its attempts, half of each at most
    # taken off by the jitter).
    defaults = Settings(redis_url="redis://x", database_url="postgresql://x")
    ceilings = [min(defaults.webhook_retry_cap_s, defaults.webhook_retry_base_s * 2 ** (n - 1))
                for n in range(1, defaults.webhook_max_attempts)]
    assert ceilings[-1] == defaults.webhook_retry_cap_s  # the cap is reached
    hours = sum(ceilings) / 3600
    assert (round(hours / 2, 2), round(hours, 2)) == (2.71, 5.42)  # 2¾ to 5½ hours
