"""Where webhooks may go, checked again at delivery by the addresses a name resolves to."""

from __future__ import annotations

import pytest

from seatserver.webhooks.targets import GuardedResolver, RefusedTarget, check_url
from tests.admin.conftest import Admin
from tests.realtime.conftest import ClientFactory
from tests.webhooks.conftest import Receiver


async def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery() -> None:
    # "localhost" passes no registration check without the setting, but a
    # public-looking name could resolve to it just the same (DNS rebinding).
    strict = GuardedResolver(allow_local=False)
    relaxed = GuardedResolver(allow_local=True)
    try:
        with pytest.raises(OSError, match="private or reserved"):
            await strict.resolve("localhost", 443)
        found = await relaxed.resolve("localhost", 443)
        assert found and all(r["host"] in ("127.0.0.1", "::1") for r in found)
    finally:
        await strict.close()
        await relaxed.close()


def test_public_https_urls_pass() -> None:
    for url in ("https://hooks.example.com/seatserver", "https://93.184.215.14:8443/x?a=1",
                "https://[2606:4700::1111]/hook", "https://xn--bcher-kva.example/"):
        assert check_url(url, allow_local=False) == url
    with pytest.raises(RefusedTarget):
        check_url("https://[::1]/x", allow_local=False)


async def test_delivery_by_name_goes_through_the_resolver(
        admin: Admin, receiver: Receiver, connect: ClientFactory, showtime: int,
        seats: list[str]) -> None:
    endpoint = await admin.ok("POST", "/api/admin/webhooks",
                              {"url": f"http://localhost:{receiver.port}/hook",
                               "events": ["seat.held"]}, status=201)
    receiver.secret = endpoint["secret"]
    client = await connect()
    assert (await client.hold(showtime, [seats[0]]))["ok"] is True
    [message] = await receiver.wait_for(1)
    assert message.body["data"]["seats"] == [seats[0]]
