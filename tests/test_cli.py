"""`forge-db` commands against a real server."""

from __future__ import annotations

import io
import subprocess
import sys

import psycopg
import pytest

from forge_db import cli


def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(args), out=out)
    return code, out.getvalue()


def test_status_lists_applied_migrations(database_url: str) -> None:
    code, out = _run("--url", database_url, "status")
    assert code == 0
    assert "applied  0001_" in out
    assert " 0 pending" in out


def test_migrate_dry_run_lists_without_applying(empty_database_url: str) -> None:
    code, out = _run("--url", empty_database_url, "migrate", "--dry-run")
    assert code == 0
    assert out.startswith("would apply 0001_")
    code, out = _run("--url", empty_database_url, "status")
    assert "pending  0001_" in out


def test_migrate_then_rollback_all(empty_database_url: str) -> None:
    assert _run("--url", empty_database_url, "migrate")[1].startswith("applied 0001_")
    assert _run("--url", empty_database_url, "migrate")[1] == "nothing to apply\n"
    code, out = _run("--url", empty_database_url, "rollback", "--all")
    assert code == 0
    assert out.splitlines()[-1] == "rolled back 0001_initial"
    assert _run("--url", empty_database_url, "rollback")[1] == "nothing to roll back\n"


def test_setup_reset_with_yes_drops_and_migrates(
    database_url: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE doomed (x int)")
    conn.close()
    code, out = _run("--url", database_url, "setup", "--reset", "--yes")
    assert code == 0, out
    with psycopg.connect(database_url) as fresh:
        assert fresh.execute("SELECT to_regclass('doomed')").fetchone() == (None,)
        assert fresh.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0] >= 1  # type: ignore[index]


def test_setup_reset_without_yes_and_no_terminal_refuses(
    database_url: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE precious (x int)")
    result = subprocess.run(
        [sys.executable, "-m", "forge_db", "--url", database_url, "setup", "--reset"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "--yes" in result.stderr
    assert conn.execute("SELECT to_regclass('precious') IS NOT NULL").fetchone() == (True,)


def test_setup_refuses_to_reset_a_system_database(forge_db_server) -> None:  # type: ignore[no-untyped-def]
    code, _ = _run("--url", forge_db_server.url, "setup", "--reset", "--yes")
    assert code == 1


def test_unreachable_server_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("--url", "postgresql://me:pw@127.0.0.1:1/x", "status")
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("forge-db: Unavailable:")
    assert "pw@" not in err
    assert err.count("\n") == 1


def test_bad_url_is_reported_as_invalid_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("--url", "postgresql://h:bad/x", "migrate")
    assert code == 1
    assert "InvalidInput" in capsys.readouterr().err
