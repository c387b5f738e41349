"""`forge-db` commands against a real server: manners, confirmation, read-only, timeouts."""

from __future__ import annotations

import io
import json
import os
import pty
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import forge_db
from forge_db import cli
from forge_db.config import with_dbname
from forge_db.testing import TestServer, clone_database

# A hung command fails its test through this bound; it is far above any honest run time.
DOES_NOT_HANG = 30


def _run(*args: str) -> tuple[int, str]:
    """Run ``forge-db`` in this process; its exit status and standard output."""
    out = io.StringIO()
    code = cli.main(list(args), out=out)
    return code, out.getvalue()


def _cli(
    *args: str, stdin: Any = subprocess.DEVNULL, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``forge-db`` in a child process with no terminal."""
    return subprocess.run(
        [sys.executable, "-m", "forge_db", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _on_terminal(*args: str, answer: str) -> subprocess.CompletedProcess[str]:
    """Run ``forge-db`` with a terminal on standard input that types ``answer``."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "forge_db", *args],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(follower)
        os.write(leader, answer.encode())
        out, err = process.communicate(timeout=120)
    finally:
        os.close(leader)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def _applied_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert row is not None
    return int(row[0])


def _database_oid(admin: psycopg.Connection[Any], name: str) -> int | None:
    row = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return None if row is None else int(row[0])


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture(autouse=True)
def default_data_dir(monkeypatch: pytest.MonkeyPatch, forge_db_run_dir: Path) -> Iterator[Path]:
    """Point the embedded default at a directory of this test: no command may reach the real one."""
    from forge_db import embedded

    data_dir = forge_db_run_dir / f"cli-{secrets.token_hex(4)}" / "pg"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("FORGE_DB_DATA_DIR", str(data_dir))
    yield data_dir
    if embedded.server_status(data_dir) is not None:
        embedded.stop_server(data_dir)


@pytest.fixture
def role_without_createdb(forge_db_admin: psycopg.Connection[Any]) -> Iterator[tuple[str, str]]:
    """A login role that may not create databases: its name and password."""
    name = f"forge_db_plain_{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    forge_db_admin.execute(
        sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )
    try:
        yield name, password
    finally:
        forge_db_admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _as_role(url: str, role: tuple[str, str]) -> str:
    return make_conninfo(url, user=role[0], password=role[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
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


# --- manners ---------------------------------------------------------------------------------


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--version")[0] == 0
    assert capsys.readouterr().out.strip() == f"forge-db {metadata.version('forge-db')}"


def test_package_exposes_its_version() -> None:
    assert forge_db.__version__ == metadata.version("forge-db")


def test_global_options_are_accepted_after_the_command(database_url: str) -> None:
    code, out = _run("status", "--url", database_url, "--connect-timeout", "3")
    assert code == 0
    assert " 0 pending" in out


def test_option_after_the_command_wins_over_the_same_option_before(
    database_url: str, empty_database_url: str
) -> None:
    code, out = _run("--url", database_url, "status", "--url", empty_database_url)
    assert code == 0
    assert "\n0 applied, " in out


@pytest.mark.parametrize("command", ["up", "down"])
def test_up_and_down_refuse_a_url(
    command: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _run(command, "--url", database_url)
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--url" in line
    assert "embedded" in line


def test_empty_url_is_an_error_not_the_embedded_server(
    capsys: pytest.CaptureFixture[str], default_data_dir: Path
) -> None:
    code, _ = _run("--url", "", "status")
    assert code == 2
    assert "InvalidInput" in _one_error_line(capsys.readouterr().err)
    assert not default_data_dir.exists()


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("demo", "--help")[0] == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: forge_demo)" in text
    assert "(default: 3000)" in text
    assert _run("--help")[0] == 0
    assert "(default: 5" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--issues", "-5"],
        ["demo", "--issues", "0"],
        ["demo", "--issues", "many"],
        ["--connect-timeout", "0", "status"],
        ["--connect-timeout", "nan", "status"],
        ["status", "--connect-timeout", "-1"],
    ],
)
def test_numbers_out_of_range_are_refused(
    args: list[str], capsys: pytest.CaptureFixture[str], default_data_dir: Path
) -> None:
    assert _run(*args)[0] == 2
    err = capsys.readouterr().err
    assert ("--issues" in err) or ("--connect-timeout" in err)
    assert not default_data_dir.exists()


def test_error_exits_2_with_one_line_naming_the_target_not_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _ = _run("--url", f"postgresql://me:pw@127.0.0.1:{port}/x", "status")
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("forge-db: Unavailable:")
    assert f"127.0.0.1:{port}" in line
    assert "pw@" not in line


def test_bad_url_is_reported_as_invalid_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("--url", "postgresql://h:bad/x", "migrate")
    assert code == 2
    assert "InvalidInput" in _one_error_line(capsys.readouterr().err)


# --- migrate, status ---------------------------------------------------------------------------


def test_status_lists_applied_migrations(database_url: str) -> None:
    code, out = _run("--url", database_url, "status")
    assert code == 0
    assert "applied  0001_" in out
    assert " 0 pending" in out


def test_status_json_lists_every_migration(database_url: str) -> None:
    code, out = _run("--url", database_url, "status", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["pending"] == 0
    assert report["applied"] == len(report["migrations"]) >= 1
    first = report["migrations"][0]
    assert first["id"].startswith("0001_")
    assert first["applied"] is True
    assert first["applied_at"].endswith("+00:00")


def test_migrate_dry_run_lists_without_applying(empty_database_url: str) -> None:
    code, out = _run("--url", empty_database_url, "migrate", "--dry-run")
    assert code == 0
    assert out.startswith("would apply 0001_")
    code, out = _run("--url", empty_database_url, "status")
    assert "pending  0001_" in out


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["status", "--json"],
        ["check"],
        ["migrate", "--dry-run"],
        ["rollback", "--dry-run"],
    ],
    ids=" ".join,
)
def test_read_only_command_creates_no_table(command: list[str], empty_database_url: str) -> None:
    code, _ = _run("--url", empty_database_url, *command)
    assert code in (0, 1)
    assert _tables(empty_database_url) == []


def test_migrate_then_rollback_all_with_yes(empty_database_url: str) -> None:
    assert _run("--url", empty_database_url, "migrate")[1].startswith("applied 0001_")
    assert _run("--url", empty_database_url, "migrate")[1] == "nothing to apply\n"
    code, out = _run("--url", empty_database_url, "rollback", "--all", "--yes")
    assert code == 0
    assert out.splitlines()[-1] == "rolled back 0001_initial"
    assert _run("--url", empty_database_url, "rollback", "--yes")[1] == "nothing to roll back\n"


# --- rollback asks -----------------------------------------------------------------------------


def test_rollback_without_yes_and_no_terminal_refuses(database_url: str) -> None:
    applied = _applied_count(database_url)
    result = _cli("--url", database_url, "rollback", "--all")
    assert result.returncode == 2
    assert "--yes" in _one_error_line(result.stderr)
    assert _applied_count(database_url) == applied
    assert "issues" in _tables(database_url)


def test_rollback_dry_run_needs_no_confirmation(database_url: str) -> None:
    result = _cli("--url", database_url, "rollback", "--all", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("would roll back ")
    assert "issues" in _tables(database_url)


def test_rollback_answered_no_on_a_terminal_keeps_everything(database_url: str) -> None:
    applied = _applied_count(database_url)
    result = _on_terminal("--url", database_url, "rollback", "--all", answer="n\n")
    assert result.returncode == 2
    assert "[y/N]" in result.stderr
    assert _applied_count(database_url) == applied
    assert "issues" in _tables(database_url)


def test_rollback_answered_yes_on_a_terminal_rolls_back(empty_database_url: str) -> None:
    _run("--url", empty_database_url, "migrate")
    result = _on_terminal("--url", empty_database_url, "rollback", "--all", answer="y\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rolled back ")
    assert "issues" not in _tables(empty_database_url)


# --- setup -------------------------------------------------------------------------------------


def test_setup_creates_a_missing_database_then_migrates_it(
    forge_db_server: TestServer, forge_db_admin: psycopg.Connection[Any]
) -> None:
    name = f"forge_db_new_{secrets.token_hex(4)}"
    url = with_dbname(forge_db_server.url, name)
    try:
        code, out = _run("--url", url, "setup")
        assert code == 0, out
        assert out.splitlines()[0] == f"created {name}"
        assert "applied 0001_" in out
        assert _applied_count(url) >= 1
    finally:
        forge_db_admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_setup_reset_with_yes_drops_and_migrates(
    database_url: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE doomed (x int)")
    conn.close()
    code, out = _run("--url", database_url, "setup", "--reset", "--yes")
    assert code == 0, out
    assert "doomed" not in _tables(database_url)
    assert _applied_count(database_url) >= 1


def test_setup_reset_without_yes_and_no_terminal_refuses(
    database_url: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE precious (x int)")
    result = _cli("--url", database_url, "setup", "--reset")
    assert result.returncode == 2
    assert "--yes" in _one_error_line(result.stderr)
    assert "precious" in _tables(database_url)


@pytest.mark.parametrize("confirmed", [["--yes"], []], ids=["yes", "asking"])
def test_setup_refuses_to_reset_a_system_database_and_drops_nothing(
    confirmed: list[str], forge_db_server: TestServer, forge_db_admin: psycopg.Connection[Any]
) -> None:
    before = _database_oid(forge_db_admin, "postgres")
    url = with_dbname(forge_db_server.url, "postgres")
    result = _cli("--url", url, "setup", "--reset", *confirmed)
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert line.startswith("forge-db: InvalidInput:")
    assert "system database 'postgres'" in line
    assert _database_oid(forge_db_admin, "postgres") == before


def test_setup_reset_as_a_role_without_createdb_drops_nothing(
    forge_db_server: TestServer,
    forge_db_admin: psycopg.Connection[Any],
    forge_db_template: str,
    role_without_createdb: tuple[str, str],
) -> None:
    name = clone_database(forge_db_admin, forge_db_template, "forge_db_owned")
    ident = sql.Identifier(name)
    try:
        forge_db_admin.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                ident, sql.Identifier(role_without_createdb[0])
            )
        )
        url = with_dbname(forge_db_server.url, name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE keep_me (x int)")
        before = _database_oid(forge_db_admin, name)
        result = _cli("--url", _as_role(url, role_without_createdb), "setup", "--reset", "--yes")
        assert result.returncode == 2
        line = _one_error_line(result.stderr)
        assert line.startswith("forge-db: PermissionDenied:")
        assert "CREATEDB" in line
        assert _database_oid(forge_db_admin, name) == before
        assert "keep_me" in _tables(url)
    finally:
        forge_db_admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


# --- check -------------------------------------------------------------------------------------


def test_check_on_an_unmigrated_database_says_so_in_one_line(empty_database_url: str) -> None:
    code, out = _run("--url", empty_database_url, "check")
    assert code == 1
    assert out.count("\n") == 1
    assert out.startswith("not migrated:")
    assert "forge-db migrate" in out


def test_check_json_reports_drift(database_url: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE stray (id int PRIMARY KEY)")
    code, out = _run("--url", database_url, "check", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["migrated"] is True
    assert report["drift"] is True
    assert any(line.startswith("unexpected table stray") for line in report["differences"])


def test_check_json_on_a_clean_database(database_url: str) -> None:
    code, out = _run("--url", database_url, "check", "--json")
    assert code == 0
    assert json.loads(out)["differences"] == []


def test_check_as_a_role_without_createdb_is_one_clear_line(
    database_url: str, role_without_createdb: tuple[str, str]
) -> None:
    result = _cli("--url", _as_role(database_url, role_without_createdb), "check")
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert line.startswith("forge-db: PermissionDenied:")
    assert "CREATEDB" in line


def test_closed_output_pipe_ends_quietly(database_url: str, tmp_path: Path) -> None:
    schema = tmp_path / "nothing.sql"
    schema.write_text("SELECT 1;\n")  # every live object is then "unexpected": a long report
    command = [sys.executable, "-m", "forge_db", "--url", database_url, "check"]
    with subprocess.Popen(
        [*command, "--schema", str(schema)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline().startswith(b"drift: ")
        process.stdout.close()  # as `| head -1` does
        err = process.stderr.read()
        process.wait(timeout=DOES_NOT_HANG)
    assert err == b""
    assert process.returncode == 141


# --- connect timeout ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["migrate"],
        ["check"],
        ["rollback", "--dry-run"],
        ["setup", "--reset", "--yes"],
        ["demo", "--issues", "1"],
        ["status", "--connect-timeout", "2"],
    ],
    ids=" ".join,
)
def test_silent_server_fails_the_command_instead_of_hanging(
    command: list[str], silent_server: int
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "forge_db",
            "--url",
            f"postgresql://me:pw@127.0.0.1:{silent_server}/x",
            *command,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DOES_NOT_HANG,
        check=False,
    )
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert line.startswith("forge-db: Unavailable:")
    assert f"127.0.0.1:{silent_server}" in line


# --- demo --------------------------------------------------------------------------------------


def _create_database(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_demo_refuses_to_drop_a_database_it_did_not_create(
    forge_db_server: TestServer,
    forge_db_admin: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"forge_db_victim_{secrets.token_hex(4)}"
    _create_database(forge_db_admin, name)
    try:
        url = with_dbname(forge_db_server.url, name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE precious (x int)")
        code, _ = _run("--url", forge_db_server.url, "demo", "--database", name, "--issues", "1")
        assert code == 2
        line = _one_error_line(capsys.readouterr().err)
        assert line.startswith("forge-db: Conflict:")
        assert "not created by forge-db demo" in line
        assert _tables(url) == ["precious"]
    finally:
        _drop_database(forge_db_admin, name)


@pytest.mark.parametrize("name", ["postgres", "template1", "template0"])
def test_demo_refuses_a_system_database(
    name: str,
    database_url: str,
    forge_db_admin: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _database_oid(forge_db_admin, name)
    code, _ = _run("--url", database_url, "demo", "--database", name, "--issues", "1")
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("forge-db: InvalidInput:")
    assert "system database" in line
    assert _database_oid(forge_db_admin, name) == before


def test_demo_refuses_the_database_the_url_points_at(
    database_url: str,
    forge_db_admin: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    assert isinstance(name, str)
    before = _database_oid(forge_db_admin, name)
    code, _ = _run("--url", database_url, "demo", "--database", name, "--issues", "1")
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("forge-db: InvalidInput:")
    assert "the URL points at" in line
    assert _database_oid(forge_db_admin, name) == before


def test_demo_rebuilds_the_database_it_created_and_reports_progress_by_quarters(
    forge_db_server: TestServer,
    forge_db_admin: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"forge_demo_{secrets.token_hex(4)}"
    try:
        assert (
            _run("--url", forge_db_server.url, "demo", "--database", name, "--issues", "2")[0] == 0
        )
        first = _database_oid(forge_db_admin, name)
        capsys.readouterr()
        code, out = _run(
            "--url", forge_db_server.url, "demo", "--database", name, "--issues", "300"
        )
        assert code == 0, out
        assert _database_oid(forge_db_admin, name) not in (None, first)
        percents = [
            line.split("]")[1].split("%")[0].strip()
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("building the demo forge")
        ]
        assert percents == ["25", "50", "75", "100"]
    finally:
        _drop_database(forge_db_admin, name)
