"""Options: bounded and strictly typed, from arguments or ``FORGE_DB_*`` environment variables."""

from __future__ import annotations

import math
import re
import socket
from pathlib import Path

import pytest

from forge_db import ForgeDB, ForgeDBError, InvalidInput
from forge_db.config import DAY, DURATIONS, HOUR, WEEK, Settings, env_variable

README = Path(__file__).resolve().parent.parent / "README.md"

UPPER_BOUNDS = {
    "connect_timeout": HOUR,
    "pool_timeout": HOUR,
    "statement_timeout": DAY,
    "deadline": DAY,
    "max_idle": WEEK,
    "max_lifetime": WEEK,
    "replica_max_lag": HOUR,
    "replica_check_interval": HOUR,
}
OUT_OF_RANGE = [math.inf, -math.inf, math.nan, 2**63, 2**64, 10**400, -1, 0, -0.0, True, "5", []]
HOSTILE = [
    None,
    -1,
    0,
    2**63,
    2**64,
    math.nan,
    math.inf,
    "",
    "\x00",
    "\ud800",
    "x" * 1_000_000,
    [],
    {},
    object(),
]


def _label(value: object) -> str:
    """A short test id that is the same in every xdist worker (no object addresses)."""
    if type(value) is object:
        return "object()"
    text = repr(value)
    return text if len(text) <= 20 else f"{text[:12]}...{len(text)}"


@pytest.fixture(autouse=True)
def _no_forge_db_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options come only from what each test sets (FORGE_DB_TEST_URL and the like may stay)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(env_variable(name), raising=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_duration_option_has_an_upper_bound() -> None:
    assert set(UPPER_BOUNDS) == DURATIONS
    assert set(Settings.model_fields) >= DURATIONS


@pytest.mark.parametrize("option", sorted(DURATIONS))
@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=_label)
def test_duration_out_of_range_is_invalid_input_naming_the_option(
    option: str, value: object
) -> None:
    with pytest.raises(InvalidInput) as info:
        Settings.from_options({option: value})
    assert info.value.field == option
    assert option in str(info.value)


@pytest.mark.parametrize("option", sorted(DURATIONS))
def test_duration_at_its_upper_bound_is_accepted(option: str) -> None:
    settings = Settings.from_options({option: UPPER_BOUNDS[option]})
    assert getattr(settings, option) == UPPER_BOUNDS[option]


@pytest.mark.parametrize("option", sorted(DURATIONS))
def test_duration_past_its_upper_bound_is_refused(option: str) -> None:
    with pytest.raises(InvalidInput, match=option):
        Settings.from_options({option: UPPER_BOUNDS[option] + 1})


def test_statement_timeout_too_small_to_send_is_refused() -> None:
    # Rounded to 0 ms it would mean "no limit" to the server.
    with pytest.raises(InvalidInput, match="statement_timeout"):
        Settings.from_options({"statement_timeout": 0.0001})


@pytest.mark.parametrize("value", ["no", "yes", 1, 0, None, "False"], ids=_label)
def test_flag_must_be_a_real_bool(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Settings.from_options({"prepared_statements": value})
    assert info.value.field == "prepared_statements"


@pytest.mark.parametrize("value", ["bad\x00name", "caf\u00e9", "\ud800", "x" * 64], ids=_label)
def test_application_name_must_be_short_printable_ascii(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Settings.from_options({"application_name": value})
    assert info.value.field == "application_name"


@pytest.mark.parametrize("option", sorted(Settings.model_fields))
@pytest.mark.parametrize("value", HOSTILE, ids=_label)
def test_hostile_connect_option_raises_only_forge_db_errors(option: str, value: object) -> None:
    url = f"postgresql://nobody@127.0.0.1:{_closed_port()}/nothing"
    # A value that is valid (min_size=0, statement_timeout=None) reaches the closed port.
    with pytest.raises(ForgeDBError):
        ForgeDB.connect(url, **{"connect_timeout": 2, option: value}).close()


@pytest.mark.parametrize("url", [*HOSTILE[1:], "postgresql://\ud800@127.0.0.1/x"], ids=_label)
def test_hostile_url_is_invalid_input_naming_the_url(url: object) -> None:
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect(url)  # type: ignore[arg-type]
    assert info.value.field == "url"


# --- environment ------------------------------------------------------------------------------


def test_environment_variable_sets_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGE_DB_POOL_TIMEOUT", "3.5")
    monkeypatch.setenv("FORGE_DB_PREPARED_STATEMENTS", "false")
    settings = Settings.from_options({})
    assert settings.pool_timeout == 3.5
    assert settings.prepared_statements is False


def test_explicit_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGE_DB_POOL_TIMEOUT", "3.5")
    assert Settings.from_options({"pool_timeout": 7}).pool_timeout == 7


@pytest.mark.parametrize("value", ["inf", "soon"])
def test_explicit_argument_wins_over_a_bad_environment_value(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FORGE_DB_MAX_IDLE", value)
    assert Settings.from_options({"max_idle": 60}).max_idle == 60


def test_none_in_the_environment_turns_the_statement_timeout_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORGE_DB_STATEMENT_TIMEOUT", "None")
    assert Settings.from_options({}).statement_timeout is None


def test_empty_environment_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGE_DB_CONNECT_TIMEOUT", "")
    assert Settings.from_options({}).connect_timeout == Settings().connect_timeout


def test_other_forge_db_variables_are_not_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGE_DB_DATA_DIR", "/somewhere")
    monkeypatch.setenv("FORGE_DB_NOT_AN_OPTION", "1")
    assert Settings.from_options({}) == Settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FORGE_DB_POOL_TIMEOUT", "soon"),
        ("FORGE_DB_POOL_TIMEOUT", "inf"),
        ("FORGE_DB_MAX_IDLE", str(2**63)),
        ("FORGE_DB_MIN_SIZE", "1.5"),
        ("FORGE_DB_MAX_SIZE", "0"),
        ("FORGE_DB_PREPARED_STATEMENTS", "maybe"),
        ("FORGE_DB_APPLICATION_NAME", "x" * 64),
    ],
)
def test_bad_environment_value_is_invalid_input_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect("postgresql://nobody@127.0.0.1:1/nothing")
    assert info.value.field == variable
    assert variable in str(info.value)


def test_environment_options_reach_the_session(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_DB_APPLICATION_NAME", "from-the-environment")
    monkeypatch.setenv("FORGE_DB_STATEMENT_TIMEOUT", "9")
    with ForgeDB.connect(database_url) as db:
        settings = db.meta.session_settings()
    assert settings.application_name == "from-the-environment"
    assert settings.statement_timeout == "9s"


def test_readme_names_the_variable_and_bound_of_every_option() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| option |") :].split("\n\n", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    for option in Settings.model_fields:
        assert f"`{env_variable(option)}`" in rows.get(f"`{option}`", ""), option
    for option in DURATIONS:
        assert re.search(r"at most (an hour|a day|a week)", rows[f"`{option}`"]), option
