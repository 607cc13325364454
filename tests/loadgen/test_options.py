"""Bad options are refused before anything connects, naming the option and why."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from seatserver.cli import main
from tests.processes import ServerProcess

URL = ("--url", "http://127.0.0.1:9")


@pytest.mark.parametrize(("args", "said"), [
    ((), "the following arguments are required: --url"),
    (("--url", "ftp://example.org"), "--url: must be the server's http:// or https://"),
    (("--url", "http://127.0.0.1:8080/showtimes/1"), "--url: must be the server's root"),
    ((*URL, "--clients", "0"), "--clients: must be between 1 and"),
    ((*URL, "--clients", "many"), "--clients: not a whole number: 'many'"),
    ((*URL, "--duration", "0"), "--duration: must be between 0.0 and 86400.0"),
    ((*URL, "--holds", "-3"), "--holds: must be at least 1"),
    ((*URL, "--workers", "65"), "--workers: must be between 1 and 64"),
    ((*URL, "--checkout-share", "1.5"), "--checkout-share: must be between 0.0 and 1.0"),
    ((*URL, "--best-share", "-0.1"), "--best-share: must be between 0.0 and 1.0"),
    ((*URL, "--hot-seat-bias", "nan"), "--hot-seat-bias: must be between 0.0 and 1.0"),
    ((*URL, "--arrival-rate", "-1"), "--arrival-rate: must be at least 0.0"),
    ((*URL, "--showtimes", "1,two"), "--showtimes: must be \"all\" or showtime ids"),
    ((*URL, "--protocol", "xml"), "--protocol: invalid choice: 'xml'"),
])
def test_bad_option_is_refused_with_its_name_and_why(
        args: tuple[str, ...], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["loadgen", *args])

    assert exit_.value.code == 2
    assert said in capsys.readouterr().err


def test_help_says_the_audit_fails_without_store_urls(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["loadgen", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "--no-store-audit" in text and "FAILS its audit" in text


def test_an_unreachable_server_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadgen", *URL, "--duration", "1", "--quiet"]) == 2
    assert "cannot reach http://127.0.0.1:9/api/showtimes" in capsys.readouterr().err


async def test_an_unknown_showtime_is_a_usage_error(target: ServerProcess,
                                                    loadgen: Any) -> None:
    run = await asyncio.to_thread(loadgen, "--url", target.url, "--showtimes", "999999",
                                  "--duration", "1")

    assert run.returncode == 2
    assert "showtimes/999999 answered 404 unknown_showtime" in run.stderr
