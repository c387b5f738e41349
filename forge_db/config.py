"""Settings: from arguments, else the environment, else sensible defaults."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidInput, describe_target, redact

__all__ = ["Settings", "env_url", "parse_url", "target_of", "with_dbname"]


class Settings(BaseModel):
    """Pool and session options accepted by ``ForgeDB.connect`` and ``AsyncForgeDB.connect``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_size: int = Field(1, ge=0, description="connections kept open")
    max_size: int = Field(10, ge=1, description="connections at most")
    connect_timeout: float = Field(5.0, gt=0, description="seconds to open a connection")
    pool_timeout: float = Field(10.0, gt=0, description="seconds to wait for a free connection")
    statement_timeout: float | None = Field(
        30.0, gt=0, description="seconds a statement may run; None for no limit"
    )
    application_name: str = Field("forge_db", max_length=63)
    prepared_statements: bool = Field(
        True, description="server-side prepared statements; turn off behind PgBouncer"
    )
    prepare_threshold: int = Field(2, ge=0, description="executions before a query is prepared")
    max_idle: float = Field(600.0, gt=0, description="seconds an idle connection is kept")
    max_lifetime: float = Field(3600.0, gt=0, description="seconds before a connection is renewed")
    migrate: bool | None = Field(
        None, description="apply pending migrations on connect; default: only for embedded"
    )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Settings:
        """Validate keyword options, naming the one that is wrong."""
        try:
            settings = cls(**options)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            raise InvalidInput(f"option {field}: {first['msg']}", field=field) from None
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
            kwargs["options"] = f"-c statement_timeout={round(self.statement_timeout * 1000)}"
        return kwargs


def parse_url(url: str) -> dict[str, Any]:
    """Parse a libpq URL or key=value string, refusing a malformed one with ``InvalidInput``."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("database URL is empty", field="url")
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
