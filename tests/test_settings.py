"""Settings: the environment's every variable, its default and its bad values,
and docs/configuration.md checked against the model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seatserver.settings import Count, Settings, SettingsError, env_fields

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = [env.name for _, _, env in env_fields()]
COUNTS = [env.name for _, _, env in env_fields() if isinstance(env.read, Count)]
# Read outside Settings, by the module named (documented in the same table).
ELSEWHERE = {"SEATSERVER_LOG_FORMAT": "seatserver/cli.py",
             "SEATSERVER_ADMIN_TOTP_SECRET": "seatserver/loadgen/options.py",
             "SEATSERVER_MIGRATIONS_DIR": "seatserver/db.py"}
# Set by `serve --workers` for its own worker processes (that it is one, and
# its index), and the load generator's test seam for its saturation warning
# (docs/loadgen.md): not configuration, not for operators.
INTERNAL = {"SEATSERVER_WORKER", "SEATSERVER_WORKER_INDEX", "SEATSERVER_LOADGEN_FORCE_CPU_SHARE"}


def documented() -> dict[str, str]:
    """Variable -> its default cell, from the table of docs/configuration.md."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", (ROOT / "docs/configuration.md")
                      .read_text(), re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def shown_default(field_name: str) -> str:
    info, env = next((i, e) for f, i, e in env_fields() if f == field_name)
    if env.shown is not None:
        return env.shown
    default = info.default
    if default is None:
        return "unset"
    if default == ():
        return "empty"
    if isinstance(default, bool):
        return str(int(default))
    return str(default)


def test_every_variable_is_documented_with_its_default() -> None:
    docs = documented()
    for field_name, _, env in env_fields():
        assert env.name in docs, f"{env.name} is missing from docs/configuration.md"
        shown = shown_default(field_name)
        assert docs[env.name] in (shown, f"`{shown}`") or docs[env.name].startswith(
            (f"`{shown}` ", f"{shown} ")), (env.name, docs[env.name], shown)


def test_every_documented_variable_is_read() -> None:
    for name in documented():
        if name in ELSEWHERE:
            assert name in (ROOT / ELSEWHERE[name]).read_text()
        else:
            assert name in VARIABLES, f"docs/configuration.md names {name}, nothing reads it"


def test_every_variable_the_code_names_is_documented() -> None:
    docs = documented()
    named = {m for path in (ROOT / "seatserver").rglob("*.py")
             for m in re.findall(r"SEATSERVER_[A-Z][A-Z_]*[A-Z]", path.read_text())}
    assert named - INTERNAL - set(docs) == set()


def test_code_settings_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEATSERVER_PORT", "1234")
    assert Settings().port == 8080
    assert Settings.from_env().port == 1234


@pytest.mark.parametrize("name", VARIABLES)
def test_an_empty_variable_means_the_default(name: str) -> None:
    assert Settings.from_env({name: ""}) == Settings()


@pytest.mark.parametrize("name", VARIABLES)
def test_a_nul_byte_is_refused_by_name(name: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must not contain a NUL character$"):
        Settings.from_env({name: "1\x00"})


# Arabic-Indic and fullwidth digits: int() would read both as 30.
@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("value", ["\u0663\u0660", "\uff13\uff10", "1_000", "12abc", "1.5", "-"])
def test_a_count_in_anything_but_ascii_digits_is_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must be a whole number, got "):
        Settings.from_env({name: value})


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("value", ["1000000001", "9" * 30, "9" * 5000])
def test_a_huge_count_is_refused_with_its_bound(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must be at most [0-9]+, got") as refused:
        Settings.from_env({name: value})
    assert len(str(refused.value)) < 200  # the value is quoted cut short


def test_counts_keep_their_bounds_and_messages() -> None:
    with pytest.raises(SettingsError, match=r"^SEATSERVER_PORT must be at most 65535, got 65536$"):
        Settings.from_env({"SEATSERVER_PORT": "65536"})
    with pytest.raises(SettingsError,
                       match=r"^SEATSERVER_STREAM_MAXLEN must be at least 100, got 99$"):
        Settings.from_env({"SEATSERVER_STREAM_MAXLEN": "99"})
    with pytest.raises(SettingsError, match=r"^SEATSERVER_HOLD_TTL must be at least 1, got -5$"):
        Settings.from_env({"SEATSERVER_HOLD_TTL": " -5 "})
    with pytest.raises(SettingsError, match=r"^SEATSERVER_REFUND_PARTIAL_PERCENT must be 0 "
                                            r"to 100, got 101$"):
        Settings.from_env({"SEATSERVER_REFUND_PARTIAL_PERCENT": "101"})
    settings = Settings.from_env({"SEATSERVER_PORT": " 9000 ", "SEATSERVER_HOLD_TTL": "+60",
                                  "SEATSERVER_PAYMENT_TIMEOUT": "3"})
    assert (settings.port, settings.hold_ttl_s, settings.payment_timeout_s) == (9000, 60, 3.0)


def test_flags_and_lists_read_as_before() -> None:
    settings = Settings.from_env({
        "SEATSERVER_REDIS_CLUSTER": " Yes ", "SEATSERVER_SECURE_COOKIES": "on",
        "SEATSERVER_ALLOWED_ORIGINS": "https://a.example/, ,https://b.example",
        "SEATSERVER_DATA_DIR": "/srv/seats", "REDIS_URL": "redis://r:6379/0"})
    assert settings.redis_cluster is True and settings.secure_cookies is True
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.data_dir == Path("/srv/seats") and settings.redis_url == "redis://r:6379/0"
    assert Settings.from_env({"SEATSERVER_REDIS_CLUSTER": "auto"}).redis_cluster is None
    with pytest.raises(SettingsError,
                       match=r"^SEATSERVER_REDIS_CLUSTER must be auto, yes or no, got 'maybe'$"):
        Settings.from_env({"SEATSERVER_REDIS_CLUSTER": "maybe"})


def test_replace_keeps_the_rest_and_validates() -> None:
    settings = Settings(hold_ttl_s=60, max_seats=4)
    moved = settings.replace(port=9100)
    assert (moved.port, moved.hold_ttl_s, moved.max_seats) == (9100, 60, 4)
    assert settings.with_urls("redis://r", "postgresql://p").redis_url == "redis://r"
    with pytest.raises(ValueError, match="SEATSERVER_REFUND_PARTIAL_PERCENT"):
        settings.replace(refund_partial_percent=150)


def test_hold_max_defaults_to_twice_the_hold_time_and_is_never_shorter_than_it() -> None:
    assert Settings.from_env({}).hold_limit_s == 960
    assert Settings.from_env({"SEATSERVER_HOLD_TTL": "30"}).hold_limit_s == 60
    settings = Settings.from_env({"SEATSERVER_HOLD_TTL": "30", "SEATSERVER_HOLD_MAX": "45"})
    assert (settings.hold_max_s, settings.hold_limit_s) == (45, 45)
    with pytest.raises(SettingsError, match=r"^SEATSERVER_HOLD_MAX must be at least "
                                            r"SEATSERVER_HOLD_TTL \(480\), got 300$"):
        Settings.from_env({"SEATSERVER_HOLD_MAX": "300"})
    with pytest.raises(SettingsError, match=r"^SEATSERVER_HOLD_MAX must be at least 1, got 0$"):
        Settings.from_env({"SEATSERVER_HOLD_MAX": "0"})
    with pytest.raises(SettingsError, match=r"^SEATSERVER_HOLD_MAX must be a whole number"):
        Settings.from_env({"SEATSERVER_HOLD_MAX": "16m"})


def test_the_default_on_sale_lead_reads_as_a_duration_and_is_unset_by_default() -> None:
    assert Settings.from_env({}).onsale_before_s is None
    read = {text: Settings.from_env({"SEATSERVER_ONSALE_BEFORE": text}).onsale_before_s
            for text in ("14d", " 36H ", "90m", "3600s", "7200", "366d")}
    assert read == {"14d": 14 * 86_400, " 36H ": 36 * 3600, "90m": 5400, "3600s": 3600,
                    "7200": 7200, "366d": 366 * 86_400}


@pytest.mark.parametrize("value", [
    "\u0661\u0664d", "\uff11\uff14d", "14 days", "1_000", "-3d", "+3d", "1.5h", "d", "14dd",
    "P14D", "0x10",
])
def test_a_default_on_sale_lead_that_is_not_a_duration_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^SEATSERVER_ONSALE_BEFORE must be a duration "
                                            r"like 14d, 36h, 90m or 600 \(seconds\), got "):
        Settings.from_env({"SEATSERVER_ONSALE_BEFORE": value})


@pytest.mark.parametrize("value", ["367d", "9" * 30 + "d", "9" * 5000, "8785h"])
def test_a_default_on_sale_lead_beyond_a_year_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^SEATSERVER_ONSALE_BEFORE must be at most "
                                            r"31622400 seconds \(366 days\), got ") as refused:
        Settings.from_env({"SEATSERVER_ONSALE_BEFORE": value})
    assert len(str(refused.value)) < 200


def test_a_default_on_sale_lead_must_outlast_the_close_of_sales() -> None:
    with pytest.raises(SettingsError, match=r"^SEATSERVER_ONSALE_BEFORE must be at least 1 s"):
        Settings.from_env({"SEATSERVER_ONSALE_BEFORE": "0d"})
    with pytest.raises(SettingsError, match=r"^SEATSERVER_ONSALE_BEFORE must be longer than "
                                            r"SEATSERVER_SALES_CLOSE_MIN \(10 min\)"):
        Settings.from_env({"SEATSERVER_ONSALE_BEFORE": "10m"})
    assert Settings.from_env({"SEATSERVER_ONSALE_BEFORE": "10m",
                              "SEATSERVER_SALES_CLOSE_MIN": "5"}).onsale_before_s == 600


def test_the_password_cost_is_standard_unless_a_test_suite_asks() -> None:
    assert Settings.from_env({}).password_cost == "standard"
    assert Settings.from_env({"SEATSERVER_PASSWORD_COST": " Test "}).password_cost == "test"


@pytest.mark.parametrize("value", ["cheap", "\uff54\uff45\uff53\uff54", "low", "x" * 5000])
def test_a_password_cost_other_than_standard_or_test_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^SEATSERVER_PASSWORD_COST must be standard or "
                                            r"test \(test suites only\)") as refused:
        Settings.from_env({"SEATSERVER_PASSWORD_COST": value})
    assert len(str(refused.value)) < 200
