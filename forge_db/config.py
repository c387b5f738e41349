"""Settings: from arguments, else ``FORGE_DB_*`` environment variables, else defaults."""

from __future__ import annotations

import os
import typing
from collections.abc import Collection
from functools import cache
from typing import Any, Final

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from .errors import InvalidInput, describe_target, redact

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "env_url",
    "env_variable",
    "parse_url",
    "target_of",
    "with_dbname",
]

ENV_PREFIX: Final = "FORGE_DB_"

# Upper bounds of the duration options, in seconds. Past them a value is a mistake rather than
# a choice (and ``inf`` or 2**63 overflow the pool's timers and libpq's integers).
HOUR: Final = 3600.0
DAY: Final = 24 * HOUR
WEEK: Final = 7 * DAY
MAX_CONNECTIONS: Final = 1000


class Settings(BaseModel):
    """Pool and session options accepted by ``ForgeDB.connect`` and ``AsyncForgeDB.connect``."""

    # Strict: a timeout of "5" or True, or a flag of "no", is a caller's mistake, not a value.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    min_size: int = Field(1, ge=0, le=MAX_CONNECTIONS, description="connections kept open")
    max_size: int = Field(10, ge=1, le=MAX_CONNECTIONS, description="connections at most")
    connect_timeout: float = Field(
        5.0, gt=0, le=HOUR, allow_inf_nan=False, description="seconds to open a connection"
    )
    pool_timeout: float = Field(
        10.0,
        gt=0,
        le=HOUR,
        allow_inf_nan=False,
        description="seconds to wait for a free connection",
    )
    statement_timeout: float | None = Field(
        30.0,
        ge=0.001,  # it is sent in milliseconds, and 0 would mean "no limit"
        le=DAY,
        allow_inf_nan=False,
        description="seconds a statement may run; None for no limit",
    )
    deadline: float | None = Field(
        None,
        gt=0,
        le=DAY,
        allow_inf_nan=False,
        description=(
            "seconds a statement may take before the client cancels it and raises Unavailable,"
            " for when the server cannot (a frozen backend, a silent network); default:"
            " statement_timeout + 5, or none without statement_timeout"
        ),
    )
    application_name: str = Field("forge_db", max_length=63, pattern=r"^[ -~]*$")
    prepared_statements: bool = Field(
        True, description="server-side prepared statements; turn off behind PgBouncer"
    )
    prepare_threshold: int = Field(
        2, ge=0, le=2**31 - 1, description="executions before a query is prepared"
    )
    max_idle: float = Field(
        600.0, gt=0, le=WEEK, allow_inf_nan=False, description="seconds an idle connection is kept"
    )
    max_lifetime: float = Field(
        3600.0,
        gt=0,
        le=WEEK,
        allow_inf_nan=False,
        description="seconds before a connection is renewed",
    )
    replica_max_lag: float = Field(
        5.0,
        gt=0,
        le=HOUR,
        allow_inf_nan=False,
        description="seconds a replica may lag behind the primary and still serve reads",
    )
    replica_check_interval: float = Field(
        1.0,
        ge=0.01,
        le=HOUR,
        allow_inf_nan=False,
        description="seconds between two health checks of the replicas",
    )
    migrate: bool | None = Field(
        None, description="apply pending migrations on connect; default: only for embedded"
    )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Settings:
        """Validate keyword options over ``FORGE_DB_*`` variables, naming the one that is wrong."""
        from_env = _from_environment(options.keys())
        merged = {**from_env, **options}
        try:
            settings = cls(**merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            reason = _reason(first)
            if field in from_env and field not in options:
                variable = env_variable(field)
                raise InvalidInput(
                    f"environment variable {variable}: {reason}{_unit(field)}",
                    field=variable,
                ) from None
            raise InvalidInput(f"option {field}: {reason}{_unit(field)}", field=field) from None
        if settings.min_size > settings.max_size:
            raise InvalidInput("option min_size: greater than max_size", field="min_size")
        return settings

    def connection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` implementing these settings."""
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "application_name": self.application_name,
            "connect_timeout": max(2, round(self.connect_timeout)),
            "prepare_threshold": self.prepare_threshold if self.prepared_statements else None,
        }
        if self.statement_timeout is not None:
            kwargs["options"] = f"-c statement_timeout={self.statement_timeout_ms}"
        return kwargs

    @property
    def call_deadline(self) -> float | None:
        """The client-side deadline of one statement, in seconds (see ``deadline``)."""
        if self.deadline is not None:
            return self.deadline
        if self.statement_timeout is None:
            return None
        # Past statement_timeout plus a margin for the round trip, the server is not going to
        # answer: the margin keeps a statement the server is cancelling from being cut short.
        return self.statement_timeout + 5.0

    @property
    def statement_timeout_ms(self) -> int | None:
        """``statement_timeout`` as the server counts it, in whole milliseconds."""
        if self.statement_timeout is None:
            return None
        return max(1, round(self.statement_timeout * 1000))


DURATIONS: Final = frozenset(
    {
        "connect_timeout",
        "pool_timeout",
        "statement_timeout",
        "deadline",
        "max_idle",
        "max_lifetime",
        "replica_max_lag",
        "replica_check_interval",
    }
)


def _reason(error: Any) -> str:
    if error["type"] == "string_pattern_mismatch":  # the only pattern: application_name
        return "must be printable ASCII"
    return str(error["msg"])


def _unit(field: str | None) -> str:
    return " (a duration in seconds)" if field in DURATIONS else ""


def env_variable(option: str) -> str:
    """The environment variable that sets ``option``: ``pool_timeout`` -> ``FORGE_DB_POOL_TIMEOUT``."""
    return ENV_PREFIX + option.upper()


class _FromText(BaseModel):
    """Base of the lenient twin of Settings that parses the environment's text."""

    @model_validator(mode="before")
    @classmethod
    def _none_spelled_out(cls, values: Any) -> Any:
        # "none" (any case) unsets an option that may be None, e.g. FORGE_DB_STATEMENT_TIMEOUT.
        if not isinstance(values, dict):
            return values
        return {
            name: None
            if name in _NULLABLE
            and isinstance(value, str)
            and value.strip().lower() in ("none", "null")
            else value
            for name, value in values.items()
        }


class _Variables(BaseSettings):
    """Base of the model that names the variables pydantic-settings reads."""

    # Unknown FORGE_DB_* variables (FORGE_DB_DATA_DIR, FORGE_DB_TEST_URL) belong to others.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")


_NULLABLE: Final = frozenset(
    name
    for name, field in Settings.model_fields.items()
    if type(None) in typing.get_args(field.annotation)
)


@cache
def _environment_models() -> tuple[type[BaseSettings], type[BaseModel]]:
    # The same options as Settings, each optional and parsed from text the lenient way that
    # environment variables need ("30", "false"); Settings then checks them strictly.
    fields: dict[str, Any] = {
        name: (typing.Optional[field.annotation], None)  # noqa: UP045 - built at run time
        for name, field in Settings.model_fields.items()
    }
    variables = create_model("_Environment", __base__=_Variables, **fields)
    return variables, create_model("_EnvironmentValues", __base__=_FromText, **fields)


def _from_environment(explicit: Collection[str]) -> dict[str, Any]:
    """The options that ``FORGE_DB_*`` variables set, other than ``explicit`` ones, parsed."""
    variables, values = _environment_models()
    source = EnvSettingsSource(
        variables, env_prefix=ENV_PREFIX, case_sensitive=False, env_ignore_empty=True
    )
    # An option given as an argument wins: its variable is not even parsed.
    raw = {name: value for name, value in source().items() if name not in explicit}
    try:
        found = values.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = env_variable(str(first["loc"][0])) if first["loc"] else ENV_PREFIX + "*"
        raise InvalidInput(
            f"environment variable {variable}: {first['msg']}", field=variable
        ) from None
    return {name: getattr(found, name) for name in found.model_fields_set}


def parse_url(url: str) -> dict[str, Any]:
    """Parse a libpq URL or key=value string, refusing a malformed one with ``InvalidInput``."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("database URL is empty", field="url")
    # libpq reads a C string: text after a NUL would be dropped, leaving libpq's defaults.
    if "\x00" in url:
        raise InvalidInput("invalid database URL: it contains a NUL character", field="url")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("invalid database URL: it is not valid text", field="url") from None
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"invalid database URL: {redact(str(exc))}", field="url") from None
    # libpq defers port checks to connection time, where they read like a network failure.
    for port in str(info.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise InvalidInput(f"invalid database URL: port {port!r} is not a number", field="url")
    return info


def with_dbname(url: str, dbname: str) -> str:
    """``url`` pointing at another database of the same server."""
    info = parse_url(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


def env_url() -> str | None:
    """The ``DATABASE_URL`` environment variable, if set and not empty."""
    value = os.environ.get("DATABASE_URL", "").strip()
    return value or None


def target_of(url: str) -> str:
    """Describe where ``url`` points, without its password."""
    return describe_target(parse_url(url))
