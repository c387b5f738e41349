"""``ForgeDB`` and ``AsyncForgeDB``: a pool, transactions, and the domain namespaces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Generic, Literal, Self

import psycopg
import psycopg_pool
from psycopg import sql as pgsql

from . import config
from .auth import Auth
from .collaboration import Collaboration
from .config import Settings
from .errors import Unavailable, redact, translate
from .issues import Issues
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

    def _bind(self, runner: R) -> None:
        for name, namespace in children(Domains).items():
            setattr(self, name, namespace(runner))


def _set_transaction(isolation: Isolation | None, read_only: bool) -> pgsql.Composed | None:
    if isolation is None and not read_only:
        return None
    parts = [pgsql.SQL("SET TRANSACTION")]
    if isolation is not None:
        if isolation not in _ISOLATIONS:
            raise ValueError(f"unknown isolation level {isolation!r}")
        parts += [pgsql.SQL("ISOLATION LEVEL"), _ISOLATIONS[isolation]]
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


def _unreachable(target: str, exc: BaseException) -> Unavailable:
    reason = redact(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
    return Unavailable(f"cannot connect to {target}: {reason}")


# --- sync ------------------------------------------------------------------------------------


class _PoolRunner:
    __slots__ = ("_pool", "_target", "_timeout")

    def __init__(self, pool: psycopg_pool.ConnectionPool[Any], target: str, timeout: float):
        self._pool = pool
        self._target = target
        self._timeout = timeout

    def run(self, query: Query[T]) -> T:
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
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
            psycopg.connect(resolved, **kwargs).close()
        except psycopg.Error as exc:
            raise _unreachable(target, exc) from exc
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
        except psycopg_pool.PoolTimeout as exc:
            pool.close()
            raise translate(exc, target=target) from exc
        return cls(pool, settings, target)

    @contextmanager
    def transaction(
        self, *, isolation: Isolation | None = None, read_only: bool = False
    ) -> Iterator[Transaction]:
        """Run several operations atomically on one connection: commit on exit, else roll back."""
        setup = _set_transaction(isolation, read_only)
        try:
            with (
                self.pool.connection(timeout=self.settings.pool_timeout) as conn,
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
            with self.pool.connection(timeout=self.settings.pool_timeout) as conn:
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
            async with self._pool.connection(timeout=self._timeout) as conn:
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
            probe = await psycopg.AsyncConnection.connect(resolved, **kwargs)
            await probe.close()
        except psycopg.Error as exc:
            raise _unreachable(target, exc) from exc
        if settings.migrate if settings.migrate is not None else embedded:
            from . import migrations

            await asyncio.to_thread(migrations.migrate, resolved)
        pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
            resolved, **_pool_options(settings)
        )
        try:
            await pool.open(wait=True, timeout=settings.connect_timeout)
        except psycopg_pool.PoolTimeout as exc:
            await pool.close()
            raise translate(exc, target=target) from exc
        return cls(pool, settings, target)

    @asynccontextmanager
    async def transaction(
        self, *, isolation: Isolation | None = None, read_only: bool = False
    ) -> AsyncIterator[AsyncTransaction]:
        """Run several operations atomically on one connection: commit on exit, else roll back."""
        setup = _set_transaction(isolation, read_only)
        try:
            async with (
                self.pool.connection(timeout=self.settings.pool_timeout) as conn,
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
            async with self.pool.connection(timeout=self.settings.pool_timeout) as conn:
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
