"""``ForgeDB`` and ``AsyncForgeDB``: a pool, transactions, and the domain namespaces."""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from time import monotonic
from types import TracebackType
from typing import Any, Final, Generic, Literal, Self

import psycopg
import psycopg_pool
from psycopg import sql as pgsql

from . import config
from .auth import Auth
from .collaboration import Collaboration
from .config import Settings
from .errors import InvalidInput, Misconfigured, Unavailable, redact, translate
from .issues import Issues
from .landing import Landing
from .meta import Meta
from .query import (
    AsyncRunner,
    AsyncRunnerBase,
    Query,
    R,
    SyncRunner,
    T,
    children,
    execute_async,
    execute_sync,
)
from .repositories import Repositories
from .users import Users

__all__ = ["AsyncForgeDB", "AsyncTransaction", "Domains", "ForgeDB", "Isolation", "Transaction"]

Isolation = Literal["read committed", "repeatable read", "serializable"]
_ISOLATIONS: dict[str, pgsql.SQL] = {
    "read committed": pgsql.SQL("READ COMMITTED"),
    "repeatable read": pgsql.SQL("REPEATABLE READ"),
    "serializable": pgsql.SQL("SERIALIZABLE"),
}


class Domains(Generic[R]):
    """The domain namespaces, all bound to one runner. The single list of domains."""

    meta: Meta[R]
    users: Users[R]
    auth: Auth[R]
    repositories: Repositories[R]
    issues: Issues[R]
    collaboration: Collaboration[R]
    landing: Landing[R]

    def _bind(self, runner: R) -> None:
        for name, namespace in children(Domains).items():
            setattr(self, name, namespace(runner))


def _isolation_level(isolation: object) -> pgsql.SQL:
    """The level named by ``isolation``, spelled as PostgreSQL does in any case."""
    if isinstance(isolation, str):
        # "READ COMMITTED", "Read_Committed" and "read  committed" all name one level.
        key = " ".join(isolation.replace("_", " ").split()).lower()
        if key in _ISOLATIONS:
            return _ISOLATIONS[key]
    names = ", ".join(repr(name) for name in _ISOLATIONS)
    shown = repr(isolation) if isinstance(isolation, str) and len(isolation) <= 40 else "that"
    raise InvalidInput(f"isolation: {shown} is not one of {names}", field="isolation")


def _set_transaction(isolation: object, read_only: object) -> pgsql.Composed | None:
    # Checked before a connection is taken, so that a bad argument costs nothing.
    if not isinstance(read_only, bool):
        raise InvalidInput("read_only: must be True or False", field="read_only")
    level = None if isolation is None else _isolation_level(isolation)
    if level is None and not read_only:
        return None
    parts = [pgsql.SQL("SET TRANSACTION")]
    if level is not None:
        parts += [pgsql.SQL("ISOLATION LEVEL"), level]
    if read_only:
        parts.append(pgsql.SQL("READ ONLY"))
    return pgsql.SQL(" ").join(parts)


def _resolve_url(url: str | None) -> tuple[str, bool]:
    """The URL to use and whether it is the embedded default (which may start a server)."""
    if url is not None:
        config.parse_url(url)
        return url, False
    from_env = config.env_url()
    if from_env is not None:
        config.parse_url(from_env)
        return from_env, False
    from . import embedded

    return embedded.ensure_server().url, True


def _pool_options(settings: Settings) -> dict[str, Any]:
    return {
        "kwargs": settings.connection_kwargs(),
        "min_size": settings.min_size,
        "max_size": settings.max_size,
        "timeout": settings.pool_timeout,
        "max_idle": settings.max_idle,
        "max_lifetime": settings.max_lifetime,
        "reconnect_timeout": settings.pool_timeout,
        "name": settings.application_name,
        "open": False,
    }


def _unreachable(target: str, exc: BaseException, settings: Settings) -> Unavailable:
    reason = redact(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
    if settings.statement_timeout is not None and "startup parameter" in reason:
        # PgBouncer: "unsupported startup parameter: options", which carries statement_timeout.
        return Misconfigured(
            f"cannot connect to {target}: {reason}. A connection pooler (PgBouncer?) refuses "
            "the startup parameter that carries statement_timeout: connect with "
            "statement_timeout=None and set the timeout on the server instead "
            "(ALTER ROLE ... SET statement_timeout = '30s'; see the README on PgBouncer)",
            field="statement_timeout",
        )
    return Unavailable(f"cannot connect to {target}: {reason}")


# The session's statement_timeout in milliseconds, to see that the startup option arrived.
_SESSION_TIMEOUT: Final = "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'"


def _check_session(target: str, settings: Settings, row: tuple[Any, ...] | None) -> None:
    """Refuse a session whose statement_timeout is not the one asked for.

    A pooler that ignores the ``options`` startup parameter (PgBouncer with
    ``ignore_startup_parameters = options``) connects fine, and then no timeout applies.
    """
    wanted = settings.statement_timeout_ms
    if wanted is None or row is None or row[0] == wanted:
        return
    raise Misconfigured(
        f"sessions on {target} run with statement_timeout {row[0]} ms, not the "
        f"{wanted} ms asked for: something between (a connection pooler such as PgBouncer "
        "with ignore_startup_parameters = options) drops the setting. Connect with "
        "statement_timeout=None and set the timeout on the server instead "
        "(ALTER ROLE ... SET statement_timeout = '30s'; see the README on PgBouncer)",
        field="statement_timeout",
    )


def _readable(fd: int) -> bool:
    """Whether ``fd`` has input waiting, without blocking (poll: select caps fds at 1024)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


# An idle connection in autocommit has nothing to receive: input waiting on its socket is
# almost always the server's goodbye (a restart, pg_terminate_backend, idle_session_timeout)
# followed by the end of the stream. Seeing it costs one poll() call, not a round trip; only
# then is the server asked, since a notification or a changed parameter arrive the same way.
def _suspect(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    return conn.closed or conn.broken or _readable(conn.fileno())


def _hung_up(conn: psycopg.Connection[Any]) -> bool:
    if conn.closed or conn.broken:
        return True
    try:
        conn.execute("")
    except psycopg.Error:
        return True
    return False


async def _hung_up_async(conn: psycopg.AsyncConnection[Any]) -> bool:
    if conn.closed or conn.broken:
        return True
    try:
        await conn.execute("")
    except psycopg.Error:
        return True
    return False


def _getconn(pool: psycopg_pool.ConnectionPool[Any], within: float) -> psycopg.Connection[Any]:
    """A pooled connection whose server is still there.

    Connections found dead are handed back (the pool replaces them) before any statement was
    sent on them, so the caller's statement runs exactly once, on a live connection: nothing
    is ever retried, which would be wrong for a write that may have committed. Unlike the
    pool's own ``check``, no back-off sleep follows a dead connection.
    """
    deadline = monotonic() + within
    while True:
        conn: psycopg.Connection[Any] = pool.getconn(timeout=max(0.0, deadline - monotonic()))
        if not (_suspect(conn) and _hung_up(conn)):
            return conn
        pool.putconn(conn)


async def _getconn_async(
    pool: psycopg_pool.AsyncConnectionPool[Any], within: float
) -> psycopg.AsyncConnection[Any]:
    """The async twin of :func:`_getconn`."""
    deadline = monotonic() + within
    while True:
        conn: psycopg.AsyncConnection[Any] = await pool.getconn(
            timeout=max(0.0, deadline - monotonic())
        )
        if not (_suspect(conn) and await _hung_up_async(conn)):
            return conn
        await pool.putconn(conn)


@contextmanager
def _pooled(
    pool: psycopg_pool.ConnectionPool[Any], within: float
) -> Iterator[psycopg.Connection[Any]]:
    """Like ``pool.connection()``, with the connection checked as :func:`_getconn` does."""
    conn = _getconn(pool, within)
    try:
        with conn:
            yield conn
    finally:
        pool.putconn(conn)


@asynccontextmanager
async def _pooled_async(
    pool: psycopg_pool.AsyncConnectionPool[Any], within: float
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The async twin of :func:`_pooled`."""
    conn = await _getconn_async(pool, within)
    try:
        async with conn:
            yield conn
    finally:
        await pool.putconn(conn)


# --- sync ------------------------------------------------------------------------------------


class _PoolRunner:
    __slots__ = ("_pool", "_target", "_timeout")

    def __init__(self, pool: psycopg_pool.ConnectionPool[Any], target: str, timeout: float):
        self._pool = pool
        self._target = target
        self._timeout = timeout

    def run(self, query: Query[T]) -> T:
        try:
            with _pooled(self._pool, self._timeout) as conn:
                return execute_sync(conn, query, self._target)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self._target) from exc


class _ConnectionRunner:
    __slots__ = ("_conn", "_target")

    def __init__(self, conn: psycopg.Connection[Any], target: str):
        self._conn = conn
        self._target = target

    def run(self, query: Query[T]) -> T:
        return execute_sync(self._conn, query, self._target)


class Transaction(Domains[SyncRunner]):
    """The domain namespaces bound to one connection inside one transaction."""

    def __init__(self, conn: psycopg.Connection[Any], target: str) -> None:
        self.connection = conn
        self._bind(_ConnectionRunner(conn, target))


class ForgeDB(Domains[SyncRunner]):
    """The synchronous API: ``db.<domain>.<operation>(...)`` runs one statement on the pool."""

    def __init__(
        self, pool: psycopg_pool.ConnectionPool[Any], settings: Settings, target: str
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.target = target
        self._bind(_PoolRunner(pool, target, settings.pool_timeout))

    @classmethod
    def connect(cls, url: str | None = None, **options: Any) -> ForgeDB:
        """Open a pool on ``url``, else ``DATABASE_URL``, else the embedded server."""
        settings = Settings.from_options(options)
        resolved, embedded = _resolve_url(url)
        target = config.target_of(resolved)
        kwargs = settings.connection_kwargs()
        try:
            with psycopg.connect(resolved, **kwargs) as probe:
                row = probe.execute(_SESSION_TIMEOUT).fetchone()
        except psycopg.Error as exc:
            raise _unreachable(target, exc, settings) from exc
        _check_session(target, settings, row)
        if settings.migrate if settings.migrate is not None else embedded:
            from . import migrations

            migrations.migrate(resolved)
        pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            resolved, **_pool_options(settings)
        )
        # Waiting for the first connections keeps the pool's background work (which draws
        # random jitter) from overlapping the caller's first operations.
        try:
            pool.open(wait=True, timeout=settings.connect_timeout)
        except BaseException as exc:
            # Whatever went wrong, the half-open pool's threads must not outlive this call.
            pool.close()
            if isinstance(exc, psycopg_pool.PoolTimeout):
                raise translate(exc, target=target) from exc
            raise
        return cls(pool, settings, target)

    @contextmanager
    def transaction(
        self, *, isolation: Isolation | str | None = None, read_only: bool = False
    ) -> Iterator[Transaction]:
        """Run several operations atomically on one connection: commit on exit, else roll back."""
        setup = _set_transaction(isolation, read_only)
        try:
            with (
                _pooled(self.pool, self.settings.pool_timeout) as conn,
                conn.transaction(),
            ):
                if setup is not None:
                    conn.execute(setup)
                yield Transaction(conn, self.target)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self.target) from exc

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Borrow a raw pooled connection (autocommit) for what no namespace offers."""
        try:
            with _pooled(self.pool, self.settings.pool_timeout) as conn:
                yield conn
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self.target) from exc

    def close(self) -> None:
        """Close the pool and every connection in it."""
        self.pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ForgeDB {self.target}>"


# --- async -----------------------------------------------------------------------------------


class _AsyncPoolRunner(AsyncRunnerBase):
    __slots__ = ("_pool", "_target", "_timeout")

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[Any], target: str, timeout: float):
        self._pool = pool
        self._target = target
        self._timeout = timeout

    async def run(self, query: Query[T]) -> T:
        try:
            async with _pooled_async(self._pool, self._timeout) as conn:
                return await execute_async(conn, query, self._target)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self._target) from exc


class _AsyncConnectionRunner(AsyncRunnerBase):
    __slots__ = ("_conn", "_target")

    def __init__(self, conn: psycopg.AsyncConnection[Any], target: str):
        self._conn = conn
        self._target = target

    async def run(self, query: Query[T]) -> T:
        return await execute_async(self._conn, query, self._target)


class AsyncTransaction(Domains[AsyncRunner]):
    """The async domain namespaces bound to one connection inside one transaction."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], target: str) -> None:
        self.connection = conn
        self._bind(_AsyncConnectionRunner(conn, target))


class AsyncForgeDB(Domains[AsyncRunner]):
    """The asyncio API: ``await adb.<domain>.<operation>(...)``, same operations as ForgeDB."""

    def __init__(
        self, pool: psycopg_pool.AsyncConnectionPool[Any], settings: Settings, target: str
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.target = target
        self._bind(_AsyncPoolRunner(pool, target, settings.pool_timeout))

    @classmethod
    async def connect(cls, url: str | None = None, **options: Any) -> AsyncForgeDB:
        """Open a pool on ``url``, else ``DATABASE_URL``, else the embedded server."""
        settings = Settings.from_options(options)
        resolved, embedded = await asyncio.to_thread(_resolve_url, url)
        target = config.target_of(resolved)
        kwargs = settings.connection_kwargs()
        try:
            async with await psycopg.AsyncConnection.connect(resolved, **kwargs) as probe:
                row = await (await probe.execute(_SESSION_TIMEOUT)).fetchone()
        except psycopg.Error as exc:
            raise _unreachable(target, exc, settings) from exc
        _check_session(target, settings, row)
        if settings.migrate if settings.migrate is not None else embedded:
            from . import migrations

            await asyncio.to_thread(migrations.migrate, resolved)
        pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
            resolved, **_pool_options(settings)
        )
        try:
            await pool.open(wait=True, timeout=settings.connect_timeout)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg_pool.PoolTimeout):
                raise translate(exc, target=target) from exc
            raise
        return cls(pool, settings, target)

    @asynccontextmanager
    async def transaction(
        self, *, isolation: Isolation | str | None = None, read_only: bool = False
    ) -> AsyncIterator[AsyncTransaction]:
        """Run several operations atomically on one connection: commit on exit, else roll back."""
        setup = _set_transaction(isolation, read_only)
        try:
            async with (
                _pooled_async(self.pool, self.settings.pool_timeout) as conn,
                conn.transaction(),
            ):
                if setup is not None:
                    await conn.execute(setup)
                yield AsyncTransaction(conn, self.target)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self.target) from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Borrow a raw pooled connection (autocommit) for what no namespace offers."""
        try:
            async with _pooled_async(self.pool, self.settings.pool_timeout) as conn:
                yield conn
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self.target) from exc

    async def close(self) -> None:
        """Close the pool and every connection in it."""
        await self.pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncForgeDB {self.target}>"
