"""The ``meta`` namespace: facts about the server and the schema."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .query import Namespace, Query, R, many, one, read, scalar

__all__ = ["AppliedMigration", "Meta", "SessionSettings"]


class AppliedMigration(BaseModel):
    """A migration recorded as applied in this database."""

    model_config = ConfigDict(frozen=True)

    migration_id: str
    applied_at: datetime


class SessionSettings(BaseModel):
    """Settings of the session that ran the query: what the pool options became."""

    model_config = ConfigDict(frozen=True)

    application_name: str
    statement_timeout: str
    transaction_isolation: str
    transaction_read_only: bool
    in_transaction: bool


class Meta(Namespace[R]):
    """Server and schema facts; the smallest namespace, and the proof of the two APIs."""

    __slots__ = ()

    @read
    def server_version(self) -> Query[str]:
        """The server's version string, e.g. ``"18.1"``."""
        return Query("SELECT current_setting('server_version')", (), scalar(str))

    @read
    def server_version_num(self) -> Query[int]:
        """The server's version as a number, e.g. ``180001``."""
        return Query("SELECT current_setting('server_version_num')::int", (), scalar(int))

    @read
    def database_name(self) -> Query[str]:
        """The name of the database this handle is connected to."""
        return Query("SELECT current_database()", (), scalar(str))

    @read
    def session_settings(self) -> Query[SessionSettings]:
        """The current session's application name, statement timeout and transaction mode."""
        return Query(
            """
            SELECT current_setting('application_name') AS application_name,
                   current_setting('statement_timeout') AS statement_timeout,
                   current_setting('transaction_isolation') AS transaction_isolation,
                   current_setting('transaction_read_only')::boolean AS transaction_read_only,
                   now() <> statement_timestamp() AS in_transaction
            """,
            (),
            one(SessionSettings, "no session"),
        )

    @read
    def applied_migrations(self) -> Query[list[AppliedMigration]]:
        """Migrations applied to this database, oldest first."""
        return Query(
            """
            SELECT migration_id, applied_at_utc AT TIME ZONE 'UTC' AS applied_at
            FROM _yoyo_migration
            ORDER BY applied_at_utc, migration_id
            """,
            (),
            many(AppliedMigration),
        )
