"""Through PgBouncer in transaction mode: the settings the README's recipe gives, verified.

Each test starts its own ``pgbouncer`` on a free 127.0.0.1 port, in front of the test server
(TCP or unix socket), and stops it at the end. Skipped, with the reason, where the binary is
missing; ``.ci/run`` installs it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from forge_db import AsyncForgeDB, ForgeDB, InvalidInput, Misconfigured, Unavailable
from forge_db.bouncer import PGBOUNCER, running_pgbouncer
from forge_db.config import parse_url
from forge_db.meta import Meta
from forge_db.query import AsyncRunner, Query, SyncRunner, nothing, read

pytestmark = pytest.mark.skipif(
    PGBOUNCER is None,
    reason="pgbouncer is not installed (apt-get install -y pgbouncer; .ci/run does it as root)",
)


def _dbname(database_url: str) -> str:
    return str(parse_url(database_url)["dbname"])


class Sleep(Meta[SyncRunner]):
    """An operation that runs for as long as it is told."""

    @read
    def sleep(self, seconds: float) -> Query[None]:
        """Sleep on the server."""
        return Query("SELECT pg_sleep(%s)", (seconds,), nothing)


class AsyncSleep(Meta[AsyncRunner]):
    @read
    def sleep(self, seconds: float) -> Query[None]:
        """Sleep on the server."""
        return Query("SELECT pg_sleep(%s)", (seconds,), nothing)


@pytest.fixture
def timeout_role(forge_db_admin: psycopg.Connection) -> Iterator[str]:
    """A login role whose sessions start with a 1 s statement_timeout, set on the server."""
    role = f"forge_db_bouncer_{secrets.token_hex(4)}"
    ident = sql.Identifier(role)
    forge_db_admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    forge_db_admin.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = '1s'").format(ident))
    try:
        yield role
    finally:
        forge_db_admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = %s",
            (role,),
        )
        forge_db_admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def test_default_statement_timeout_through_pgbouncer_names_the_setting_to_change(
    database_url: str,
) -> None:
    with running_pgbouncer(database_url) as bouncer, pytest.raises(Misconfigured) as info:
        ForgeDB.connect(bouncer.url(_dbname(database_url)), prepared_statements=False)
    assert info.value.field == "statement_timeout"
    assert "statement_timeout=None" in str(info.value)
    assert "ALTER ROLE" in str(info.value)


def test_statement_timeout_dropped_by_the_pooler_is_refused(database_url: str) -> None:
    # With the parameter ignored PgBouncer connects, and the session has no timeout at all.
    ignoring = "ignore_startup_parameters = options"
    with running_pgbouncer(database_url, extra=ignoring) as bouncer:
        url = bouncer.url(_dbname(database_url))
        with pytest.raises(Misconfigured) as info:
            ForgeDB.connect(url, prepared_statements=False, statement_timeout=5)
    assert info.value.field == "statement_timeout"
    assert "5000 ms" in str(info.value)


def test_statement_timeout_applies_through_pgbouncer(database_url: str, timeout_role: str) -> None:
    with running_pgbouncer(database_url, login=timeout_role, pool_size=2) as bouncer:
        url = bouncer.url(_dbname(database_url))
        options: dict[str, Any] = {"prepared_statements": False, "statement_timeout": None}
        with ForgeDB.connect(url, max_size=3, **options) as db:
            # Every server connection the bouncer opens logs in as the role, timeout and all.
            assert {db.meta.session_settings().statement_timeout for _ in range(6)} == {"1s"}
            with pytest.raises(Unavailable, match="statement_timeout"):
                Sleep(db.meta._runner).sleep(3)
            assert db.meta.server_version_num() > 0


@pytest.mark.anyio
async def test_async_statement_timeout_applies_through_pgbouncer(
    database_url: str, timeout_role: str
) -> None:
    with running_pgbouncer(database_url, login=timeout_role) as bouncer:
        url = bouncer.url(_dbname(database_url))
        adb = await AsyncForgeDB.connect(url, prepared_statements=False, statement_timeout=None)
        try:
            assert (await adb.meta.session_settings()).statement_timeout == "1s"
            with pytest.raises(Unavailable, match="statement_timeout"):
                await AsyncSleep(adb.meta._runner).sleep(3)
        finally:
            await adb.close()


def test_prepared_statements_through_pgbouncer_raise_one_clear_error(database_url: str) -> None:
    # One server connection for both clients: the second one's _pg3_0 is already taken.
    with running_pgbouncer(database_url, pool_size=1) as bouncer:
        url = bouncer.url(_dbname(database_url))
        options: dict[str, Any] = {"statement_timeout": None, "min_size": 1, "max_size": 1}
        with ForgeDB.connect(url, **options) as first, ForgeDB.connect(url, **options) as second:
            for _ in range(5):
                first.meta.server_version_num()
            with pytest.raises(Misconfigured) as info:
                for _ in range(5):
                    second.meta.database_name()
    assert info.value.field == "prepared_statements"
    assert "prepared_statements=False" in str(info.value)


def test_clients_sharing_pgbouncer_get_their_own_results_without_prepared_statements(
    database_url: str, server_version_num: int
) -> None:
    dbname = _dbname(database_url)
    with running_pgbouncer(database_url, pool_size=1) as bouncer:
        url = bouncer.url(dbname)
        options: dict[str, Any] = {"prepared_statements": False, "statement_timeout": None}
        with ForgeDB.connect(url, **options) as first, ForgeDB.connect(url, **options) as second:
            for _ in range(10):
                assert first.meta.server_version_num() == server_version_num
                assert second.meta.database_name() == dbname
            with first.transaction(isolation="SERIALIZABLE", read_only=True) as tx:
                settings = tx.meta.session_settings()
    assert settings.transaction_isolation == "serializable"
    assert settings.transaction_read_only is True


def _servers(bouncer_url: str, dbname: str) -> int:
    """Server connections the bouncer holds to ``dbname`` (its console's SHOW SERVERS)."""
    with psycopg.connect(bouncer_url, autocommit=True, prepare_threshold=None) as console:
        result = console.pgconn.exec_(b"SHOW SERVERS")
        names = [result.fname(i) for i in range(result.nfields)]
        column = names.index(b"database")
        return sum(
            1 for row in range(result.ntuples) if result.get_value(row, column) == dbname.encode()
        )


def test_close_connections_leaves_no_server_connection_for_the_next_client(
    database_url: str,
) -> None:
    # The test plugin calls it before a database's sessions are ended on the server, so that
    # the next test of that database never gets an idle server connection that is gone.
    name = _dbname(database_url)
    with running_pgbouncer(database_url) as bouncer:
        with psycopg.connect(bouncer.url(name), autocommit=True, prepare_threshold=None) as c:
            c.execute("SELECT 1")
        assert _servers(bouncer.url("pgbouncer"), name) == 1
        bouncer.close_connections(name)
        assert _servers(bouncer.url("pgbouncer"), name) == 0
        # RESUMEd: the database serves new clients at once.
        with psycopg.connect(bouncer.url(name), autocommit=True, prepare_threshold=None) as c:
            assert c.execute("SELECT 2").fetchone() == (2,)
        with pytest.raises(InvalidInput, match="dbname"):
            bouncer.close_connections("test; SHUTDOWN")
