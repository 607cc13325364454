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
    ((*URL, "--holds", "-3"), "--holds: must be between 1 and"),
    ((*URL, "--workers", "65"), "--workers: must be between 1 and 64"),
    ((*URL, "--checkout-share", "1.5"), "--checkout-share: must be between 0.0 and 1.0"),
    ((*URL, "--best-share", "-0.1"), "--best-share: must be between 0.0 and 1.0"),
    ((*URL, "--hot-seat-bias", "nan"), "--hot-seat-bias: must be between 0.0 and 1.0"),
    ((*URL, "--arrival-rate", "-1"), "--arrival-rate: must be between 0.0 and"),
    ((*URL, "--showtimes", "1,two"), "--showtimes: must be \"all\" or showtime ids"),
    ((*URL, "--protocol", "xml"), "--protocol: invalid choice: 'xml'"),
    # Hostile numbers: negative, huge, infinite, digits of other scripts.
    ((*URL, "--admission-rate", "-5"), "--admission-rate: must be between 0 and 1000000"),
    ((*URL, "--admission-rate", "9" * 5000), "--admission-rate: not a whole number"),
    ((*URL, "--active-cap", "1e9"), "--active-cap: not a whole number: '1e9'"),
    ((*URL, "--clients", "\u0661\u0662"), "--clients: not a whole number"),
    ((*URL, "--arrival-rate", "\u0661.5"), "--arrival-rate: not a number"),
    ((*URL, "--arrival-rate", "inf"), "--arrival-rate: must be between 0.0 and 1000000.0"),
    ((*URL, "--arrival-rate", "1e400"), "--arrival-rate: must be between 0.0 and"),
    ((*URL, "--opens-in", "-3"), "--opens-in: must be between 1.0 and 3600.0"),
    ((*URL, "--admission-ttl", "59"), "--admission-ttl: must be between 60 and 86400"),
    ((*URL, "--abandon-share", "2"), "--abandon-share: must be between 0.0 and 1.0"),
    ((*URL, "--seed", str(2**70)), "--seed: must be between 0 and"),
    ((*URL, "--holds", "1_000"), "--holds: not a whole number: '1_000'"),
    ((*URL, "--scenario", "stampede"), "--scenario: invalid choice: 'stampede'"),
    ((*URL, "--metrics-url", "ftp://x/metrics"), "--metrics-url: must be an http://"),
])
def test_bad_option_is_refused_with_its_name_and_why(
        args: tuple[str, ...], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["loadgen", *args])

    assert exit_.value.code == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize(("args", "said"), [
    (("--scenario", "onsale", "--duration", "5", "--opens-in", "5"),
     "--duration (5 s) must be longer than --opens-in (5 s)"),
    (("--scenario", "onsale", "--admin-password", "x", "--admission-rate", "0"),
     "--admission-rate and --active-cap cannot both be 0"),
])
def test_options_that_disagree_are_a_usage_error_without_a_traceback(
        args: tuple[str, ...], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadgen", *URL, "--quiet", *args]) == 2

    err = capsys.readouterr().err
    assert said in " ".join(err.split()) and "Traceback" not in err


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
