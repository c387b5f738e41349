"""Connecting: URL resolution, bad URLs and options, and Unavailable within the timeouts."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from forge_db import AsyncForgeDB, ForgeDB, InvalidInput, Unavailable
from forge_db.config import parse_url


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for s in accepted:
        s.close()
    listener.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    ["not a url", "postgresql://user@host:notaport/db", "postgresql://h/db?nonsense_option=1", ""],
)
def test_bad_url_is_invalid_input_naming_the_url(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect(url)
    assert info.value.field == "url"
    assert "URL" in str(info.value)


def test_bad_url_in_environment_is_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://h:port/db")
    with pytest.raises(InvalidInput, match="invalid database URL"):
        ForgeDB.connect()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_size": 0}, "max_size"),
        ({"min_size": 5, "max_size": 2}, "min_size"),
        ({"pool_timeout": -1}, "pool_timeout"),
        ({"no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_option_is_invalid_input_naming_it(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect("postgresql://localhost/x", **options)
    assert info.value.field == field
    assert field in str(info.value)


# Bounds on elapsed time are generous on purpose: they prove "gave up because of the timeout,
# and did not hang", which a loaded machine must not turn into a failure.
SLACK = 10.0


def test_refused_connection_is_unavailable_naming_target_not_password() -> None:
    port = _closed_port()
    url = f"postgresql://forge:hunter2@127.0.0.1:{port}/forge"
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        ForgeDB.connect(url, connect_timeout=2)
    assert time.monotonic() - started < 2 + SLACK
    message = str(info.value)
    assert f"forge@127.0.0.1:{port}/forge" in message
    assert "hunter2" not in message


def test_silent_server_is_unavailable_within_connect_timeout(silent_server: int) -> None:
    url = f"postgresql://forge:hunter2@127.0.0.1:{silent_server}/forge"
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        ForgeDB.connect(url, connect_timeout=2)
    elapsed = time.monotonic() - started
    assert 1 < elapsed < 2 + SLACK, elapsed  # waited for the timeout, and no longer
    assert "hunter2" not in str(info.value)
    assert f"127.0.0.1:{silent_server}" in str(info.value)


@pytest.mark.anyio
async def test_async_silent_server_is_unavailable_within_connect_timeout(
    silent_server: int,
) -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await AsyncForgeDB.connect(f"postgresql://x@127.0.0.1:{silent_server}/x", connect_timeout=2)
    assert time.monotonic() - started < 2 + SLACK


def test_exhausted_pool_is_unavailable_within_pool_timeout(database_url: str) -> None:
    with ForgeDB.connect(database_url, min_size=1, max_size=1, pool_timeout=0.3) as db:  # noqa: SIM117
        with db.transaction():
            started = time.monotonic()
            with pytest.raises(Unavailable, match="no database connection came free"):
                db.meta.server_version()
            assert time.monotonic() - started < 0.3 + SLACK


@pytest.mark.anyio
async def test_async_exhausted_pool_is_unavailable(database_url: str) -> None:
    adb = await AsyncForgeDB.connect(database_url, min_size=1, max_size=1, pool_timeout=0.3)
    try:
        async with adb.transaction():
            with pytest.raises(Unavailable, match="no database connection came free"):
                await adb.meta.server_version()
    finally:
        await adb.close()


def test_closed_handle_is_unavailable(database_url: str) -> None:
    db = ForgeDB.connect(database_url)
    db.close()
    with pytest.raises(Unavailable, match="closed"):
        db.meta.server_version()


def test_database_url_environment_is_used_when_no_url_given(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    with ForgeDB.connect() as db:
        assert db.meta.database_name() == database_url.rsplit("dbname=", 1)[-1].split()[0]


def test_explicit_url_wins_over_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    with ForgeDB.connect(database_url) as db:
        assert db.meta.server_version()


def test_repr_names_target_without_password(database_url: str) -> None:
    with ForgeDB.connect(database_url) as db:
        assert "password" not in repr(db)
        assert db.target in repr(db)


# --- no half-open pool after a failed connect --------------------------------------------------


def _pool_threads(name: str) -> list[str]:
    """Threads of pools named ``name`` (psycopg_pool names its workers after the pool)."""
    return [t.name for t in threading.enumerate() if t.name.startswith(name)]


@pytest.fixture
def limited_role_url(database_url: str, forge_db_admin: psycopg.Connection) -> Iterator[str]:
    """URL of this test's database as a role that may hold one connection at a time."""
    role = f"forge_db_limited_{secrets.token_hex(4)}"
    ident = sql.Identifier(role)
    forge_db_admin.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 1").format(ident))
    info = parse_url(database_url)
    info["user"] = role
    try:
        yield psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})
    finally:
        forge_db_admin.execute(
            sql.SQL(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = %s"
            ),
            (role,),
        )
        forge_db_admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


def test_pool_that_cannot_fill_is_closed_with_its_threads(limited_role_url: str) -> None:
    name = f"forge-half-open-{secrets.token_hex(3)}"
    # The probe connection succeeds; the pool's second connection is refused by the limit.
    with pytest.raises(Unavailable):
        ForgeDB.connect(
            limited_role_url, min_size=2, max_size=2, connect_timeout=2, application_name=name
        )
    assert _pool_threads(name) == []


def test_unbounded_timeout_leaves_no_pool_threads(database_url: str) -> None:
    name = f"forge-unbounded-{secrets.token_hex(3)}"
    with pytest.raises(InvalidInput, match="connect_timeout"):
        ForgeDB.connect(database_url, connect_timeout=2**63, application_name=name)
    assert _pool_threads(name) == []


def _pool_tasks(name: str) -> list[str]:
    return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith(name)]


@pytest.mark.anyio
async def test_async_pool_that_cannot_fill_is_closed_with_its_tasks(
    limited_role_url: str,
) -> None:
    name = f"forge-half-open-{secrets.token_hex(3)}"
    with pytest.raises(Unavailable):
        await AsyncForgeDB.connect(
            limited_role_url, min_size=2, max_size=2, connect_timeout=2, application_name=name
        )
    assert _pool_tasks(name) == []


@pytest.mark.parametrize("option", ["max_idle", "max_lifetime", "pool_timeout"])
def test_infinite_pool_durations_are_refused_before_a_pool_exists(
    database_url: str, option: str
) -> None:
    name = f"forge-infinite-{secrets.token_hex(3)}"
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect(database_url, application_name=name, **{option: float("inf")})
    assert info.value.field == option
    assert _pool_threads(name) == []


# --- idle connections whose server went away ---------------------------------------------------


def _terminate_idle_backends(conn: psycopg.Connection, application_name: str) -> int:
    """Terminate the idle sessions of ``application_name``, waiting until they are gone.

    The count may include connect()'s probe connection, closed but not yet gone from
    pg_stat_activity, besides the pool's own.
    """
    rows = conn.execute(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
        " WHERE application_name = %s AND state = 'idle'",
        (application_name,),
    ).fetchall()
    return sum(1 for (terminated,) in rows if terminated)


def test_idle_connections_whose_backends_died_are_replaced_unseen(
    database_url: str, conn: psycopg.Connection, server_version_num: int
) -> None:
    name = f"forge-stale-{secrets.token_hex(3)}"
    with ForgeDB.connect(database_url, min_size=4, max_size=4, application_name=name) as db:
        assert _terminate_idle_backends(conn, name) >= 4
        answers = [db.meta.server_version_num() for _ in range(8)]
    assert answers == [server_version_num] * 8


def test_transaction_on_a_pool_of_dead_connections_gets_a_live_one(
    database_url: str, conn: psycopg.Connection
) -> None:
    name = f"forge-stale-{secrets.token_hex(3)}"
    with ForgeDB.connect(database_url, min_size=3, max_size=3, application_name=name) as db:
        assert _terminate_idle_backends(conn, name) >= 3
        with db.transaction(isolation="serializable") as tx:
            assert tx.meta.session_settings().transaction_isolation == "serializable"
        with db.connection() as raw:
            assert raw.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.anyio
async def test_async_idle_connections_whose_backends_died_are_replaced_unseen(
    database_url: str, conn: psycopg.Connection, server_version_num: int
) -> None:
    name = f"forge-stale-{secrets.token_hex(3)}"
    adb = await AsyncForgeDB.connect(database_url, min_size=4, max_size=4, application_name=name)
    try:
        assert _terminate_idle_backends(conn, name) >= 4
        answers = [await adb.meta.server_version_num() for _ in range(8)]
        async with adb.transaction() as tx:
            assert await tx.meta.database_name() == await adb.meta.database_name()
    finally:
        await adb.close()
    assert answers == [server_version_num] * 8


def test_statement_on_a_connection_killed_while_it_runs_is_not_sent_again(
    database_url: str, conn: psycopg.Connection
) -> None:
    # The write may have committed before the connection died (it did not here, but the
    # client cannot tell): it is reported, never repeated.
    conn.execute("CREATE TABLE writes (n int)")
    name = f"forge-killed-{secrets.token_hex(3)}"
    with ForgeDB.connect(database_url, min_size=1, max_size=1, application_name=name) as db:
        errors: list[BaseException] = []

        def write() -> None:
            try:
                with db.connection() as raw:  # the same checked checkout as every operation
                    raw.execute("INSERT INTO writes SELECT 1 FROM pg_sleep(30)")
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        running = (
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND state = 'active' AND query LIKE 'INSERT INTO writes%%'"
        )
        while conn.execute(running, (name,)).fetchone() != (1,):
            time.sleep(0.01)
        conn.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (name,),
        )
        writer.join()
        assert db.meta.server_version_num() > 0
    assert len(errors) == 1
    assert conn.execute("SELECT count(*) FROM writes").fetchone() == (0,)
