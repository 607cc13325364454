"""TOTP (RFC 6238) and recovery codes, as functions: the RFC's test vectors,
the drift window, a code refused at or before the last accepted step, and
what counts as a code when typed."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from seatserver.accounts import totp
from seatserver.accounts.mfa import new_recovery_code, normal_code, recovery_hash

SHA1_KEY = b"12345678901234567890"
SHA256_KEY = b"12345678901234567890123456789012"
SHA512_KEY = b"1234567890" * 6 + b"1234"

# RFC 6238, appendix B: (time, SHA1, SHA256, SHA512), eight digits.
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), VECTORS)
def test_codes_match_the_rfc_6238_vectors(at: int, sha1: str, sha256: str,
                                          sha512: str) -> None:
    assert totp.totp(SHA1_KEY, at, digits=8) == sha1
    assert totp.totp(SHA256_KEY, at, digits=8, digest="sha256") == sha256
    assert totp.totp(SHA512_KEY, at, digits=8, digest="sha512") == sha512


def test_six_digit_codes_are_the_last_six_of_the_eight() -> None:
    # RFC 4226 appendix D (HOTP, counter 0 and 1) and the RFC 6238 truncation.
    assert [totp.hotp(SHA1_KEY, n) for n in range(3)] == ["755224", "287082", "359152"]
    assert totp.totp(SHA1_KEY, 59) == "287082"


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_a_code_of_one_step_either_side_is_accepted(drift: int) -> None:
    now = 1_700_000_000.0
    code = totp.totp(SHA1_KEY, now + drift * totp.STEP_S)
    assert totp.matching_step(SHA1_KEY, code, now, after=0) == totp.step_at(now) + drift


@pytest.mark.parametrize("drift", [-3, -2, 2, 3])
def test_a_code_further_off_is_refused(drift: int) -> None:
    now = 1_700_000_000.0
    code = totp.totp(SHA1_KEY, now + drift * totp.STEP_S)
    assert totp.matching_step(SHA1_KEY, code, now, after=0) is None


def test_a_code_of_the_last_accepted_step_or_before_is_refused() -> None:
    now = 1_700_000_000.0
    step = totp.step_at(now)
    code = totp.totp(SHA1_KEY, now)
    assert totp.matching_step(SHA1_KEY, code, now, after=step - 1) == step
    assert totp.matching_step(SHA1_KEY, code, now, after=step) is None
    assert totp.matching_step(SHA1_KEY, totp.totp(SHA1_KEY, now - 30), now,
                              after=step) is None


def test_the_provisioning_uri_carries_the_base32_secret() -> None:
    uri = urlsplit(totp.provisioning_uri(SHA1_KEY, account="ann@example.com",
                                         issuer="seat server"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/seat server:ann@example.com"
    query = parse_qs(uri.query)
    assert query["secret"] == [totp.secret_text(SHA1_KEY)]
    assert query["issuer"] == ["seat server"]
    # SHA1, six digits, 30 s: the defaults apps assume, so left out or said as such.
    assert query.get("algorithm", ["SHA1"]) == ["SHA1"]
    assert query.get("digits", ["6"]) == ["6"] and query.get("period", ["30"]) == ["30"]
    assert totp.secret_text(SHA1_KEY) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.mark.parametrize(("typed", "seen"), [
    ("123456", ("totp", "123456")),
    (" 123 456 ", ("totp", "123456")),
    ("123-456", ("totp", "123456")),
    ("ABCD-efgh-2345-6789", ("recovery", "abcdefgh23456789")),
    ("12345", None),
    ("1234567", None),
    ("123\x00456", None),
    ("١٢٣٤٥٦", None),  # Arabic-Indic digits
    ("\uff11\uff12\uff13\uff14\uff15\uff16", None),  # full-width digits
    ("", None),
    ("9" * 10_000, None),
])
def test_what_counts_as_a_code(typed: str, seen: tuple[str, str] | None) -> None:
    assert normal_code(typed) == seen


def test_recovery_codes_are_random_and_read_back_as_recovery_codes() -> None:
    codes = {new_recovery_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        kind, normal = normal_code(code) or ("", "")
        assert kind == "recovery" and len(recovery_hash(normal)) == 32
