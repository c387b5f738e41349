"""The pytest plugin as a downstream backend sees it: fixtures, markers, failures, Docker."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from forge_db.query import AsyncRunnerBase, Namespace, Query, operation
from forge_db.testing import BlockingProxy, TestServer, template_name

DOWNSTREAM_TEST = """
import psycopg
import pytest
from forge_db import ForgeDB

def test_db_is_migrated(db: ForgeDB) -> None:
    assert db.meta.applied_migrations()

def test_each_test_gets_its_own_database(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE mine (x int)")

def test_the_table_of_another_test_is_not_here(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE mine (x int)")

@pytest.mark.anyio
async def test_async_fixture(adb) -> None:
    assert await adb.meta.server_version()

def test_both_apis(fdb) -> None:
    assert fdb.meta.server_version_num() > 0

@pytest.mark.pg_version(min=99)
def test_future_server_only(db) -> None:
    raise AssertionError("must be skipped")

@pytest.mark.pg_version(max=9)
def test_ancient_server_only(db) -> None:
    raise AssertionError("must be skipped")
"""


def test_downstream_suite_gets_fresh_migrated_databases(
    pytester: pytest.Pytester, forge_db_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_DB_TEST_URL", forge_db_server.url)
    pytester.makepyfile(test_downstream=DOWNSTREAM_TEST)
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, skipped=2)
    result.stdout.fnmatch_lines(["*needs PostgreSQL 99 or newer*", "*needs PostgreSQL 9 or older*"])


@pytest.mark.parametrize(("workers", "status"), [("0", 3), ("2", 2)], ids=["one-process", "xdist"])
def test_unreachable_server_stops_the_run_with_one_message(
    workers: str, status: int, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FORGE_DB_TEST_URL", f"postgresql://me:topsecret@127.0.0.1:{port}/x")
    pytester.makepyfile(
        test_many="""
        import pytest
        @pytest.mark.parametrize("n", range(50))
        def test_n(db, n):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-n", workers, "-p", "no:cacheprovider")
    assert result.ret == status
    text = result.stdout.str() + result.stderr.str()
    assert text.count("cannot connect to the test server") == 1, text
    assert f"me@127.0.0.1:{port}/x" in text
    assert "topsecret" not in text
    assert "INTERNALERROR" not in text


@pytest.mark.parametrize("workers", ["0", "2"])
def test_docker_backend_skips_cleanly_without_an_engine(
    workers: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORGE_DB_TEST_URL", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(
        test_docker="""
        def test_needs_db(db):
            pass
        def test_needs_nothing():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-rs", "--pg-backend=docker", "-n", workers, "-p", "no:cacheprovider"
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*--pg-backend=docker: no Docker engine answers*"])
    assert "ResourceWarning" not in result.stdout.str() + result.stderr.str()


def test_ini_option_names_the_server(
    pytester: pytest.Pytester, forge_db_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORGE_DB_TEST_URL", raising=False)
    pytester.makeini(f"[pytest]\nforge_db_url = {forge_db_server.url}\n")
    pytester.makepyfile(
        test_ini=f"""
        def test_server_comes_from_the_ini_file(forge_db_server, db):
            assert forge_db_server.backend == "url"
            assert forge_db_server.url == {forge_db_server.url!r}
            assert db.meta.applied_migrations()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_environment_wins_over_the_ini_option(
    pytester: pytest.Pytester, forge_db_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FORGE_DB_TEST_URL", f"postgresql://me@127.0.0.1:{port}/x")
    pytester.makeini(f"[pytest]\nforge_db_url = {forge_db_server.url}\n")
    pytester.makepyfile(test_env="def test_n(db):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 3
    assert f"me@127.0.0.1:{port}/x" in result.stdout.str() + result.stderr.str()


SEEDED_CONFTEST = """
import psycopg

def pytest_forge_db_template(url):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (username) VALUES ('seeded')")
"""

SEEDED_TEST = """
import psycopg
from forge_db.testing import template_name

seen = []

def _usernames(conn):
    return [row[0] for row in conn.execute("SELECT username FROM users ORDER BY username")]

def test_first_test_sees_the_seed_and_adds_a_user(conn, forge_db_template):
    seen.append(conn.info.dbname)
    assert forge_db_template != template_name()
    assert _usernames(conn) == ["seeded"]
    conn.execute("INSERT INTO users (username) VALUES ('extra')")

def test_next_test_on_the_same_database_sees_only_the_seed(conn):
    assert seen == [conn.info.dbname]
    assert _usernames(conn) == ["seeded"]
"""


def test_seed_hook_loads_the_template_once_and_reused_databases_keep_the_seed(
    pytester: pytest.Pytester, forge_db_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_DB_TEST_URL", forge_db_server.url)
    pytester.makeconftest(SEEDED_CONFTEST)
    pytester.makepyfile(test_seeded=SEEDED_TEST)
    result = pytester.runpytest_subprocess("-n", "0", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


ISOLATION_TEST = """
import psycopg
from forge_db import ForgeDB

used = []

def _rows(conn):
    tables = [row[0] for row in conn.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE relkind = 'r' AND nspname = 'public' AND relname NOT LIKE '%yoyo%'"
    )]
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}

def test_first_writes_rows_in_several_tables(db: ForgeDB, conn) -> None:
    used.append(conn.info.dbname)
    alice = db.users.create(username="alice")
    repo = db.repositories.create(owner_id=alice.id, name="forge")
    issue = db.issues.create(repo.id, actor_id=alice.id, title="t", body="b")
    db.issues.comments.create(repo.id, issue.number, actor_id=alice.id, body="c")
    written = {t for t, n in _rows(conn).items() if n}
    assert {"users", "repositories", "issues", "comments"} <= written

def test_second_reuses_the_database_and_finds_no_row(conn) -> None:
    assert used == [conn.info.dbname], "the database was not reused: the test proves nothing"
    assert {t: n for t, n in _rows(conn).items() if n} == {}
"""


def test_rows_of_one_test_never_reach_the_next_test_on_a_reused_database(
    pytester: pytest.Pytester, forge_db_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORGE_DB_TEST_URL", forge_db_server.url)
    pytester.makepyfile(test_isolation=ISOLATION_TEST)
    result = pytester.runpytest_subprocess("-n", "0", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


class _AnswersAtOnce(operation[Any, Any, Any]):
    """An operation that, bound to an async runner, returns its value instead of an awaitable."""

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return lambda *args, **kwargs: "plain value"


class _AsyncRunner(AsyncRunnerBase):
    async def run(self, query: Query[Any]) -> Any:
        raise AssertionError("not reached")


def _answers_at_once(build: Any) -> _AnswersAtOnce:
    return _AnswersAtOnce(build, writes=False)


class _BrokenNamespace(Namespace[Any]):
    @_answers_at_once
    def version(self) -> Query[str]:
        """A broken operation."""
        raise AssertionError("not reached")

    async def ping(self) -> str:
        return "pong"


@pytest.fixture
def portal() -> Iterator[Any]:
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal("asyncio") as running:
        yield running


def test_async_proxy_fails_when_an_async_operation_returns_a_plain_value(portal: Any) -> None:
    proxy = BlockingProxy(_BrokenNamespace(_AsyncRunner()), portal)
    with pytest.raises(TypeError, match=r"version.*not an awaitable"):
        proxy.version()


def test_async_proxy_awaits_an_async_method(portal: Any) -> None:
    proxy = BlockingProxy(_BrokenNamespace(_AsyncRunner()), portal)
    assert proxy.ping() == "pong"


def test_template_name_changes_with_the_migrations(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from forge_db import migrations, testing

    before = testing.template_name()
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_x.sql").write_text("SELECT 1;")
    monkeypatch.setattr(migrations, "sql_root", lambda: tmp_path)
    assert testing.template_name() != before
    assert testing.template_name().startswith("forge_db_tpl_")


def test_template_name_covers_the_seed() -> None:
    assert template_name("INSERT INTO users ...") != template_name()
    assert template_name("one seed") != template_name("another seed")


def test_templates_of_earlier_migrations_are_dropped(
    forge_db_admin: psycopg.Connection[Any], forge_db_template: str
) -> None:
    from psycopg import sql

    from forge_db.testing import _drop_stale_templates

    stale = "forge_db_tpl_00000000deadbeef"
    forge_db_admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(stale)))
    forge_db_admin.execute(
        sql.SQL("CREATE DATABASE {} IS_TEMPLATE true").format(sql.Identifier(stale))
    )
    _drop_stale_templates(forge_db_admin, keep=forge_db_template)
    names = {row[0] for row in forge_db_admin.execute("SELECT datname FROM pg_database")}
    assert stale not in names
    assert forge_db_template in names
