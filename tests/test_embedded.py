"""The embedded default: `forge-db up`/`down`, reuse across processes, and a stopped server."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from forge_db import ForgeDB, Unavailable, embedded

# Bounds that only tell "gave up" from "hangs": far above the 2 s connect timeout used here, so a
# loaded machine cannot make them fail.
DOES_NOT_HANG = 30


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forge_db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def private_env(forge_db_run_dir: Path) -> Iterator[dict[str, str]]:
    """An environment whose embedded server lives in a directory of this module's own.

    Under the run's directory, not pytest's basetemp: another pytest session closes the
    basetemp root to other users, and the server runs as one when we are root.
    """
    data_dir = forge_db_run_dir / f"embedded-{secrets.token_hex(4)}" / "pg"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env["FORGE_DB_DATA_DIR"] = str(data_dir)
    yield env
    embedded.stop_server(data_dir)


def _up(env: dict[str, str]) -> str:
    result = _cli("up", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().removeprefix("DATABASE_URL=")


def test_up_starts_migrates_and_prints_the_url(private_env: dict[str, str]) -> None:
    result = _cli("up", env=private_env)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("DATABASE_URL=postgresql://")
    url = line.removeprefix("DATABASE_URL=")
    with psycopg.connect(url) as conn:
        applied = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert applied is not None
    assert applied[0] >= 1


def test_embedded_default_has_a_database_of_its_own(private_env: dict[str, str]) -> None:
    with psycopg.connect(_up(private_env)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("forge",)


def test_setup_reset_starts_over_on_the_embedded_default(private_env: dict[str, str]) -> None:
    url = _up(private_env)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE doomed (x int)")
    reset = _cli("setup", "--reset", "--yes", env=private_env)
    assert reset.returncode == 0, reset.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('doomed')").fetchone() == (None,)
        applied = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
    assert applied is not None
    assert applied[0] >= 1


def test_status_reports_a_stopped_server_without_starting_it(private_env: dict[str, str]) -> None:
    data_dir = Path(private_env["FORGE_DB_DATA_DIR"])
    _up(private_env)
    assert _cli("down", env=private_env).returncode == 0
    status = _cli("status", env=private_env)
    assert status.returncode == 0, status.stderr
    assert "not running" in status.stdout
    assert str(data_dir) in status.stdout
    assert embedded.server_status(data_dir) is None


def test_second_up_reuses_the_running_server(private_env: dict[str, str]) -> None:
    first = _cli("up", env=private_env)
    data_dir = Path(private_env["FORGE_DB_DATA_DIR"])
    pid = embedded.server_status(data_dir)
    second = _cli("up", env=private_env)
    assert first.stdout == second.stdout
    assert embedded.server_status(data_dir) == pid


def test_status_and_check_work_on_the_embedded_default(private_env: dict[str, str]) -> None:
    _cli("up", env=private_env)
    status = _cli("status", env=private_env)
    assert status.returncode == 0, status.stderr
    assert " 0 pending" in status.stdout
    check = _cli("check", env=private_env)
    assert check.returncode == 0, check.stdout + check.stderr
    migrate = _cli("migrate", env=private_env)
    assert migrate.stdout.strip() == "nothing to apply"


def test_connect_without_url_uses_the_embedded_server(
    private_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("FORGE_DB_DATA_DIR", private_env["FORGE_DB_DATA_DIR"])
    with ForgeDB.connect() as db:
        assert db.meta.server_version_num() >= 180000
        assert db.meta.applied_migrations()
        assert db.target.endswith("/forge")


def test_stopped_server_gives_unavailable(private_env: dict[str, str]) -> None:
    url = _cli("up", env=private_env).stdout.strip().removeprefix("DATABASE_URL=")
    db = ForgeDB.connect(url, pool_timeout=1, connect_timeout=2)
    try:
        assert db.meta.server_version()
        down = _cli("down", env=private_env)
        assert down.returncode == 0
        assert "stopped" in down.stdout
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            db.meta.server_version()
        with pytest.raises(Unavailable):
            db.meta.server_version()
        assert time.monotonic() - started < DOES_NOT_HANG
        assert "postgres@" in str(info.value)
    finally:
        db.close()
    started = time.monotonic()
    with pytest.raises(Unavailable, match="cannot connect to postgres@"):
        ForgeDB.connect(url, connect_timeout=2)
    assert time.monotonic() - started < DOES_NOT_HANG
    assert _cli("down", env=private_env).stdout.startswith("not running")


def test_default_data_dir_stays_out_of_root_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORGE_DB_DATA_DIR", raising=False)
    path = embedded.default_data_dir()
    assert path.name.startswith("pg")
    if os.geteuid() == 0:
        assert not str(path).startswith("/root")


def test_data_dir_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FORGE_DB_DATA_DIR", str(tmp_path / "here"))
    assert embedded.default_data_dir() == (tmp_path / "here").resolve()


_CAN_ADD_USERS = hasattr(os, "geteuid") and os.geteuid() == 0 and bool(shutil.which("useradd"))


@pytest.mark.skipif(not _CAN_ADD_USERS, reason="creating system users needs root and useradd")
def test_concurrent_starts_on_a_new_machine_all_create_the_system_user() -> None:
    """Two first starts at once used to fail in useradd ("already exists") for the loser."""
    import pwd
    import threading

    name = f"fdbtest{secrets.token_hex(4)}"
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            embedded.ensure_system_user(name)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert pwd.getpwnam(name).pw_name == name
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
