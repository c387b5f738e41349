"""pytest plugin: a real PostgreSQL for every test, for forge_db and for the backends using it.

Registered by entry point, so installing forge_db makes these fixtures available:

- ``database_url``: URL of a fresh, fully migrated database for this test (dropped after).
- ``conn``: a raw autocommit ``psycopg.Connection`` to it.
- ``db``: a :class:`~forge_db.ForgeDB` on it; ``adb``: an :class:`~forge_db.AsyncForgeDB`
  (async fixture, for tests marked ``@pytest.mark.anyio``).
- ``fdb``: the test runs twice, once with a ``ForgeDB`` and once with an ``AsyncForgeDB`` driven
  through a blocking portal, so one test body checks both APIs.
- ``server_version_num``: the server's ``server_version_num``.

The server is ``FORGE_DB_TEST_URL`` if set; else ``--pg-backend=docker`` (testcontainers; the
tests are skipped, with the reason, where no Docker engine answers); else a throwaway embedded
server. A migrated template database is built once per run (and reused by later runs while the
migrations are unchanged); each test gets its own clone, so tests may commit and open as many
connections as they like. Safe under pytest-xdist.

``@pytest.mark.pg_version(min=16, max=17)`` skips a test on other server major versions.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import os
import secrets
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
import pytest
from psycopg import sql as pgsql

from . import migrations
from .config import target_of, with_dbname
from .database import AsyncForgeDB, ForgeDB
from .errors import redact
from .query import Namespace

__all__ = ["BlockingProxy", "DatabasePool", "TestServer", "clone_database", "template_name"]

_TEMPLATE_LOCK_KEY: Final = 0x666F7267655F7470  # "forge_tp"
_TEMPLATE_NOTE: Final = "forge_db test template built "
_DOCKER_IMAGE: Final = "postgres:18-alpine"


@dataclass(frozen=True)
class TestServer:
    """The server tests run against: a URL of its maintenance database and its version."""

    __test__ = False  # not a test class, despite the name

    url: str
    version_num: int
    backend: str


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--pg-backend``."""
    group = parser.getgroup("forge_db", "forge_db test database")
    group.addoption(
        "--pg-backend",
        choices=("embedded", "docker"),
        default=None,
        help="where test databases live when FORGE_DB_TEST_URL is unset (default: embedded)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``pg_version`` marker."""
    config.addinivalue_line(
        "markers",
        "pg_version(min=None, max=None): run only on servers of these major versions",
    )


def _docker_server(stack: contextlib.ExitStack) -> str:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        pytest.skip("--pg-backend=docker needs testcontainers: pip install 'forge-db[docker]'")
    with warnings.catch_warnings():
        # The docker client leaves a socket behind when no engine answers.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            container = PostgresContainer(_DOCKER_IMAGE, driver=None)
            stack.enter_context(container)
        except Exception as exc:
            reason = f"--pg-backend=docker: no Docker engine answers ({type(exc).__name__}: {exc})"
            del exc
            gc.collect()
            pytest.skip(reason)
    url: str = container.get_connection_url()
    return url


def _embedded_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    from .embedded import start_test_server

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by every worker of this run
    return start_test_server(base / "forge-db-pg").url


@pytest.fixture(scope="session")
def forge_db_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestServer]:
    """The PostgreSQL server of this test run (see the module docstring for how it is chosen)."""
    with contextlib.ExitStack() as stack:
        url = os.environ.get("FORGE_DB_TEST_URL", "").strip()
        backend = "url"
        if not url:
            backend = request.config.getoption("--pg-backend") or "embedded"
            url = (
                _docker_server(stack) if backend == "docker" else _embedded_server(tmp_path_factory)
            )
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as probe:
                row = probe.execute("SELECT current_setting('server_version_num')::int").fetchone()
        except Exception as exc:  # any failure here ends the run with one message
            message = redact(str(exc).strip()) or type(exc).__name__
            pytest.exit(
                f"forge_db: cannot connect to the test server {target_of(url)} ({backend}): "
                f"{message}",
                returncode=3,
            )
        assert row is not None
        yield TestServer(url, int(row[0]), backend)


def template_name() -> str:
    """Name of the template database for the current migrations (their content hash)."""
    digest = hashlib.sha256()
    for path in sorted(migrations.migrations_dir().glob("*.sql")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"forge_db_tpl_{digest.hexdigest()[:16]}"


@pytest.fixture(scope="session")
def forge_db_admin(forge_db_server: TestServer) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the server's maintenance database, for creating databases."""
    with psycopg.connect(forge_db_server.url, autocommit=True) as admin:
        yield admin


@pytest.fixture(scope="session")
def forge_db_template(forge_db_server: TestServer, forge_db_admin: psycopg.Connection[Any]) -> str:
    """A migrated template database, built once and shared by every worker and later runs."""
    name = template_name()
    admin = forge_db_admin
    admin.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK_KEY,))
    try:
        row = admin.execute(
            "SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if row is None or not row[0]:
            ident = pgsql.Identifier(name)
            admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(ident))
            migrations.migrate(with_dbname(forge_db_server.url, name))
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
    database is emptied with triggers off (``session_replication_role = replica``) and kept only
    if its catalog fingerprint is unchanged; a test that altered the schema gets its database
    dropped, and the next test a fresh clone.
    """

    def __init__(self, server_url: str, admin: psycopg.Connection[Any], template: str, prefix: str):
        self._server_url = server_url
        self._admin = admin
        self._template = template
        self._prefix = prefix
        self._free: list[str] = []
        self._clean: tuple[Any, ...] | None = None
        self._reset_sql: str | None = None

    def url(self, name: str) -> str:
        """The URL of database ``name`` on the test server."""
        return with_dbname(self._server_url, name)

    def checkout(self) -> str:
        """A pristine migrated database's name."""
        if self._free:
            return self._free.pop()
        name = clone_database(self._admin, self._template, self._prefix)
        if self._clean is None:
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                self._clean = conn.execute(_FINGERPRINT).fetchone()
                tables = [row[0] for row in conn.execute(_USER_TABLES)]
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
            self._free.append(name)
        except (LookupError, psycopg.Error):
            self.drop(name)

    def drop(self, name: str) -> None:
        """Drop one database of this pool."""
        self._admin.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )

    def close(self) -> None:
        """Drop every database kept for reuse."""
        while self._free:
            self.drop(self._free.pop())


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


@pytest.fixture
def database_url(forge_db_pool: DatabasePool) -> Iterator[str]:
    """URL of a migrated database holding no rows, this test's alone until it ends."""
    name = forge_db_pool.checkout()
    try:
        yield forge_db_pool.url(name)
    finally:
        forge_db_pool.checkin(name)


@pytest.fixture
def server_version_num(forge_db_server: TestServer) -> int:
    """The test server's ``server_version_num``, e.g. 150004."""
    return forge_db_server.version_num


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A raw autocommit psycopg connection to this test's database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def db(database_url: str) -> Iterator[ForgeDB]:
    """A ``ForgeDB`` on this test's database."""
    with ForgeDB.connect(database_url, min_size=1, max_size=8) as forge:
        yield forge


@pytest.fixture
async def adb(database_url: str) -> AsyncIterator[AsyncForgeDB]:
    """An ``AsyncForgeDB`` on this test's database (use with ``@pytest.mark.anyio``)."""
    forge = await AsyncForgeDB.connect(database_url, min_size=1, max_size=8)
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
    ``await adb.meta.server_version()`` would.
    """

    def __init__(self, target: Any, portal: Any) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if isinstance(value, Namespace):
            return BlockingProxy(value, self._portal)
        if callable(value):
            return self._blocking(value)
        return value

    def _blocking(self, function: Callable[..., Any]) -> Callable[..., Any]:
        portal = self._portal

        async def invoke(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            result = function(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
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
