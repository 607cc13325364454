"""The personal-data cipher: round trips, tampering, values moved between rows
or fields, unknown keys, the keyed hash of addresses, and key configuration."""

from __future__ import annotations

import base64
import os

import pytest

from seatserver.personal.cipher import (
    PersonalCipher,
    PersonalDataError,
    decode_key,
    key_id_of,
    normal_email,
)
from seatserver.personal.keys import parse_configured
from seatserver.settings import Settings, SettingsError

# Fixed, not random: they appear in parametrized test ids, which every
# pytest-xdist process must collect alike.
OLD, NEW, LOOKUP = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))


def cipher(current: str = "k1", **keys: bytes) -> PersonalCipher:
    return PersonalCipher(keys or {"k1": OLD}, current, LOOKUP)


@pytest.mark.parametrize("value", ["ada@example.com", "Zoë Ünal", "+49 30 1234567", "",
                                   "x" * 100_000, "nul\x00inside", "🎟️ 李小龙"])
def test_a_sealed_value_opens_to_itself_and_never_shows_it(value: str) -> None:
    sealed = cipher().seal(value, "users.name", "7")

    assert sealed.startswith("v1:k1:")
    assert (value == "" or value not in sealed) and "@" not in sealed
    assert cipher().open(sealed, "users.name", "7") == value


def test_two_seals_of_one_value_differ() -> None:
    assert cipher().seal("a@b.c", "users.email", "1") != cipher().seal("a@b.c", "users.email",
                                                                       "1")


def test_a_value_moved_to_another_row_or_field_does_not_open() -> None:
    sealed = cipher().seal("ada@example.com", "users.email", "1")

    with pytest.raises(PersonalDataError, match="moved"):
        cipher().open(sealed, "users.email", "2")
    with pytest.raises(PersonalDataError):
        cipher().open(sealed, "bookings.contact_email", "1")


@pytest.mark.parametrize("tamper", [
    lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],  # ciphertext bit
    lambda s: s.replace(s.split(":")[2], base64.urlsafe_b64encode(
        os.urandom(12)).decode().rstrip("=")),  # another nonce
    lambda s: s.replace("v1:k1:", "v1:k2:"),  # another key id (same key under it)
])
def test_tampered_values_are_refused(tamper: object) -> None:
    both = cipher("k1", k1=OLD, k2=OLD)
    sealed = both.seal("ada@example.com", "users.email", "1")

    with pytest.raises(PersonalDataError):
        both.open(tamper(sealed), "users.email", "1")  # type: ignore[operator]


@pytest.mark.parametrize("broken", ["", "ada@example.com", "v1:k1", "v2:k1:AAAA:AAAA",
                                    "v1:K1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA",
                                    "v1:k1:!!!!:????", "v1:k1:AAAA:AAAAAAAAAAAAAAAAAAAAAA",
                                    "v1:k1:\x00:\x00", "v1:k1:" + "A" * 16 + ":" + "A" * 8])
def test_malformed_sealed_values_are_refused(broken: str) -> None:
    with pytest.raises(PersonalDataError):
        cipher().open(broken, "users.email", "1")


def test_a_value_of_an_unknown_key_is_refused_and_rotation_keeps_old_keys_readable() -> None:
    old = cipher().seal("ada@example.com", "users.email", "1")
    rotated = cipher("k2", k1=OLD, k2=NEW)
    new = rotated.seal("ada@example.com", "users.email", "1")

    assert (key_id_of(old), key_id_of(new)) == ("k1", "k2")
    assert rotated.open(old, "users.email", "1") == rotated.open(new, "users.email", "1")
    with pytest.raises(PersonalDataError, match="unknown key"):
        cipher().open(new, "users.email", "1")


def test_the_address_hash_ignores_case_space_and_unicode_form() -> None:
    composed, decomposed = "zoë@example.com", "zoe\u0308@example.com"

    assert normal_email(f"  {decomposed.upper()} ") == composed
    assert cipher().email_hash(composed) == cipher().email_hash(" ZOE\u0308@Example.COM")
    assert cipher().email_hash("a@example.com") != cipher().email_hash("b@example.com")
    assert PersonalCipher({"k1": OLD}, "k1", os.urandom(32)).email_hash(
        composed) != cipher().email_hash(composed)


def test_configured_keys_put_the_first_one_current() -> None:
    text = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in (("k2", NEW),
                                                                     ("k1", OLD)))
    configured = parse_configured(text, base64.b64encode(LOOKUP).decode())

    assert configured.current == "k2" and configured.key_ids == {"k1", "k2"}
    assert configured.open(cipher().seal("x", "users.name", "1"), "users.name", "1") == "x"


@pytest.mark.parametrize(("variable", "value", "problem"), [
    ("SEATSERVER_PERSONAL_LOOKUP_KEY", "short", "base64|bytes"),
    ("SEATSERVER_PERSONAL_LOOKUP_KEY", base64.b64encode(b"x" * 16).decode(), "32 bytes"),
    ("SEATSERVER_PERSONAL_DATA_KEK", "not base64 at all!", "base64"),
    ("SEATSERVER_PERSONAL_DATA_KEYS", "nokeyid", "id:base64"),
    ("SEATSERVER_PERSONAL_DATA_KEYS", f"K1:{base64.b64encode(OLD).decode()}", "id:base64"),
    ("SEATSERVER_PERSONAL_DATA_KEYS", f"k1:{base64.b64encode(OLD).decode()},"
                                      f"k1:{base64.b64encode(NEW).decode()}", "once"),
    ("SEATSERVER_PERSONAL_DATA_KEYS", "k1:\x00", "NUL"),
    ("SEATSERVER_PERSONAL_DATA_KEYS", "k1:é" * 1000, "base64"),
])
def test_bad_key_configuration_is_refused_naming_the_variable(
        variable: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem) as refused:
        Settings.from_env({variable: value})

    assert variable in str(refused.value)


def test_data_keys_without_a_lookup_key_are_refused() -> None:
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_env({"SEATSERVER_PERSONAL_DATA_KEYS":
                           f"k1:{base64.b64encode(OLD).decode()}"})


def test_keys_are_decoded_from_either_base64_alphabet() -> None:
    key = bytes(range(250, 256)) * 5 + b"\xfb\xff"

    assert decode_key(base64.b64encode(key).decode(), "k") == key
    assert decode_key(base64.urlsafe_b64encode(key).decode().rstrip("="), "k") == key
