"""The plugin's embedded test server: where it lives, side by side with other runs, and its end.

These tests run small downstream suites in child pytest processes on the embedded backend, with
pytest's default basetemp (no ``--basetemp``): that is where two runs used to break each other.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from forge_db import embedded

# A hung run fails through this bound; an honest one takes a fraction of it.
DOES_NOT_HANG = 240

RUN_ROOT = Path(tempfile.gettempdir()) / f"forge-db-test-{os.getuid()}"

RECORDING_CONFTEST = """
import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _record_server(request):
    if "forge_db_server" in request.fixturenames:
        server = request.getfixturevalue("forge_db_server")
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        out = Path(os.environ["RECORD_DIR"]) / f"{os.getpid()}-{worker}.url"
        out.write_text(server.url)
"""

# Every test changes the schema, so the next one clones a new database: CREATE DATABASE makes
# the server open files by absolute path (a checkpoint), which fails the moment another
# session takes the permissions off a parent directory.
CLONING_SUITE = """
import os
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize("n", range(20))
def test_clones_databases_for_a_while(conn, forge_db_server, n):
    Path(os.environ["RECORD_DIR"], "started").touch()
    conn.execute("CREATE TABLE changed (x int)")
    time.sleep(0.3)
"""


def _env(record_dir: Path) -> dict[str, str]:
    drop = ("FORGE_DB_TEST_URL", "DATABASE_URL", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")
    env = {
        k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST_XDIST")
    }
    env["RECORD_DIR"] = str(record_dir)
    return env


def _start(project: Path, record_dir: Path, *args: str) -> subprocess.Popen[str]:
    record_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env=_env(record_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _project(root: Path, **files: str) -> Path:
    root.mkdir(parents=True)
    (root / "conftest.py").write_text(RECORDING_CONFTEST)
    for name, text in files.items():
        (root / f"{name}.py").write_text(text)
    return root


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DOES_NOT_HANG
    while not path.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _server_dirs(record_dir: Path) -> set[Path]:
    urls = {p.read_text() for p in record_dir.glob("*.url")}
    return {Path(str(psycopg.conninfo.conninfo_to_dict(url)["host"])) for url in urls}


T = TypeVar("T")


def _once_per_run(run_dir: Path, name: str, compute: Callable[[], T]) -> T:
    """``compute()`` once in this pytest run, whichever xdist workers ask for it.

    The runs below take tens of seconds; a module-scoped fixture alone would repeat them on
    every worker that gets one of their tests.
    """
    result = run_dir / f"{name}.pickle"
    with (run_dir / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            result.write_bytes(pickle.dumps(compute()))
        value: T = pickle.loads(result.read_bytes())
        return value


@dataclass(frozen=True)
class Run:
    """A finished child pytest run: exit status, output and the server directories it used."""

    code: int
    output: str
    servers: set[Path]
    kept_logs: dict[str, str] = field(default_factory=dict)  # path: text, of logs kept after it


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, forge_db_run_dir: Path) -> tuple[Run, Run]:
    """Two runs of one cloning suite on the embedded backend, the second started mid-way."""
    return _once_per_run(
        forge_db_run_dir, "two-runs", lambda: _two_runs(tmp_path_factory.mktemp("two-runs"))
    )


def _two_runs(base: Path) -> tuple[Run, Run]:
    first_project = _project(base / "first", test_cloning=CLONING_SUITE)
    second_project = _project(base / "second", test_cloning=CLONING_SUITE)
    first = _start(first_project, base / "first-record", "-n", "2")
    try:
        _wait_for(base / "first-record" / "started", first)
        second = _start(second_project, base / "second-record", "-n", "2")
        second_output = second.communicate(timeout=DOES_NOT_HANG)[0]
        first_output = first.communicate(timeout=DOES_NOT_HANG)[0]
    finally:
        for process in (first, locals().get("second")):
            if isinstance(process, subprocess.Popen) and process.poll() is None:
                process.kill()
    return (
        Run(first.returncode, first_output, _server_dirs(base / "first-record")),
        Run(second.returncode, second_output, _server_dirs(base / "second-record")),
    )


def test_two_concurrent_runs_both_pass(two_runs: tuple[Run, Run]) -> None:
    for run in two_runs:
        assert run.code == 0, run.output
        assert "20 passed" in run.output


def test_the_workers_of_one_run_share_one_server_outside_pytest_basetemp(
    two_runs: tuple[Run, Run],
) -> None:
    for run in two_runs:
        assert len(run.servers) == 1, run.servers
        (server,) = run.servers
        assert "pytest-of-" not in str(server)
        assert server.parent.parent == RUN_ROOT
        assert server.parent.name.startswith("run-")


def test_two_runs_use_two_servers(two_runs: tuple[Run, Run]) -> None:
    assert two_runs[0].servers != two_runs[1].servers


def test_a_run_removes_its_server_directory_at_its_end(two_runs: tuple[Run, Run]) -> None:
    for run in two_runs:
        for server in run.servers:
            assert not server.parent.exists()
            assert not Path(f"{server.parent}.log").exists()


STOPPING_SUITE = """
import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from forge_db import embedded


def _wait(condition):
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_0_the_server_goes_away(forge_db_server):
    # Once every worker has its server: one still starting would start it again.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    _wait(lambda: len(list(Path(os.environ["RECORD_DIR"]).glob("*.url"))) >= workers)
    data_dir = Path(psycopg.conninfo.conninfo_to_dict(forge_db_server.url)["host"])
    os.kill(embedded.server_status(data_dir).pid, signal.SIGQUIT)  # immediate shutdown, as a crash
    _wait(lambda: embedded.server_status(data_dir) is None)


@pytest.mark.parametrize("n", range(60))
def test_needs_the_server(db, n):
    pass
"""


@pytest.fixture(scope="module", params=["0", "2"], ids=["one-process", "xdist"])
def stopped_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, forge_db_run_dir: Path
) -> Run:
    """A run whose server is stopped by its first test, while 60 more tests need it."""
    workers = str(request.param)
    return _once_per_run(
        forge_db_run_dir,
        f"stopped-{workers}",
        lambda: _stopped_run(tmp_path_factory.mktemp("stopped"), workers),
    )


def _stopped_run(base: Path, workers: str) -> Run:
    project = _project(base / "project", test_stopping=STOPPING_SUITE)
    process = _start(project, base / "record", "-n", workers)
    output = process.communicate(timeout=DOES_NOT_HANG)[0]
    servers = _server_dirs(base / "record")
    kept_logs = {}
    for server in servers:  # read and removed here: the kept log is the outer run's litter
        kept = Path(f"{server.parent}.log")
        if kept.exists():
            kept_logs[str(kept)] = kept.read_text()
            kept.unlink()
    return Run(process.returncode, output, servers, kept_logs)


def test_a_vanished_server_stops_the_run_with_one_message(stopped_run: Run) -> None:
    assert stopped_run.code == 2, stopped_run.output
    assert stopped_run.output.count("stopped answering") == 1, stopped_run.output
    errors = stopped_run.output.count("ERROR at setup")
    assert 1 <= errors <= 2, stopped_run.output


def test_a_failed_run_keeps_the_server_log_and_prints_its_tail(stopped_run: Run) -> None:
    (server,) = stopped_run.servers
    kept = f"{server.parent}.log"
    assert f"server log kept at {kept}" in stopped_run.output
    assert "received immediate shutdown request" in stopped_run.kept_logs[kept]
    assert "received immediate shutdown request" in stopped_run.output


def test_a_failed_run_still_removes_its_server_directory(stopped_run: Run) -> None:
    (server,) = stopped_run.servers
    assert not server.parent.exists()


ABANDONED_SUITE = """
import os
import time
from pathlib import Path


def test_waits_to_be_killed(forge_db_server):
    Path(os.environ["RECORD_DIR"], "started").touch()
    time.sleep(600)
"""

QUICK_SUITE = """
def test_uses_the_server(db):
    assert db.meta.applied_migrations()
"""


def test_a_killed_run_is_cleaned_up_by_the_next_run(tmp_path: Path) -> None:
    killed = _start(
        _project(tmp_path / "killed", test_wait=ABANDONED_SUITE), tmp_path / "k", "-n", "0"
    )
    try:
        _wait_for(tmp_path / "k" / "started", killed)
        (server,) = _server_dirs(tmp_path / "k")
        assert embedded.server_status(server) is not None
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=DOES_NOT_HANG)
    assert server.parent.exists()
    later = _start(_project(tmp_path / "later", test_quick=QUICK_SUITE), tmp_path / "l", "-n", "0")
    output = later.communicate(timeout=DOES_NOT_HANG)[0]
    assert later.returncode == 0, output
    assert embedded.server_status(server) is None
    assert not server.parent.exists()
