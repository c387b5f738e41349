"""The pytest plugin as a downstream backend sees it: fixtures, markers, failures, Docker."""

from __future__ import annotations

import socket

import pytest

from forge_db.testing import TestServer

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


def test_unreachable_server_stops_the_run_with_one_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
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
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 3
    text = result.stdout.str() + result.stderr.str()
    assert text.count("cannot connect to the test server") == 1
    assert f"me@127.0.0.1:{port}/x" in text
    assert "topsecret" not in text


def test_docker_backend_skips_cleanly_without_an_engine(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORGE_DB_TEST_URL", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    pytester.makepyfile(
        test_docker="""
        def test_needs_db(db):
            pass
        def test_needs_nothing():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rs", "--pg-backend=docker", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*--pg-backend=docker: no Docker engine answers*"])


def test_template_name_changes_with_the_migrations(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from forge_db import migrations, testing

    before = testing.template_name()
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_x.sql").write_text("SELECT 1;")
    monkeypatch.setattr(migrations, "sql_root", lambda: tmp_path)
    assert testing.template_name() != before
    assert testing.template_name().startswith("forge_db_tpl_")


def test_templates_of_earlier_migrations_are_dropped(
    forge_db_admin, forge_db_template: str
) -> None:  # type: ignore[no-untyped-def]

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
