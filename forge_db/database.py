"""``ForgeDB`` and ``AsyncForgeDB``: a pool, transactions, and the domain namespaces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from types import TracebackType
from typing import Any, Final, Generic, Literal, Self

import psycopg
import psycopg_pool
from psycopg import sql as pgsql

from . import config
from .auth import Auth
from .collaboration import Collaboration
from .config import Settings
from .coordination import Coordination
from .errors import Conflict, InvalidInput, Misconfigured, Unavailable, redact, translate
from .issues import Issues
from .jj import Jj
from .landing import Landing
from .meta import Meta
from .pooling import getconn, getconn_async, pool_options, pooled, pooled_async
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
from .replicas import (
    AsyncMonitor,
    AsyncRoutedRunner,
    Monitor,
    Replicas,
    ReplicaStatus,
    RoutedRunner,
    parse_lsn,
    recording,
    recording_async,
)
from .repositories import Repositories
from .users import Users
from .workflows import Workflows

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
    jj: Jj[R]
    coordination: Coordination[R]
    workflows: Workflows[R]
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


def _replica_urls(replicas: object) -> list[str]:
    """The replicas' URLs, each checked; a single string is a mistake, not a list."""
    if isinstance(replicas, str) or not isinstance(replicas, Sequence):
        raise InvalidInput("replicas: must be a list of database URLs", field="replicas")
    urls = list(replicas)
    for url in urls:
        try:
            config.parse_url(url)
        except InvalidInput as exc:
            raise InvalidInput(f"replicas: {exc}", field="replicas") from None
    return urls


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


# --- waiting for a notification (LISTEN/NOTIFY) ----------------------------------------------


def _listen(channel: str) -> pgsql.Composed:
    return pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel))


def _wait_budget(due: float | None, within: float) -> tuple[bool, float]:
    """Whether something is available now, and how long to wait for a notification."""
    if due is not None and due <= 0:
        return True, 0.0
    return False, within if due is None else min(within, due)


def wait_sync(
    conn: psycopg.Connection[Any],
    channel: str,
    payload: str,
    ready: Query[float | None],
    within: float,
    target: str,
    enter: Query[Any] | None = None,
    leave: Query[Any] | None = None,
) -> bool:
    """Listen on ``channel`` and wait up to ``within`` s for ``payload``, or until ``ready``
    (seconds until something is available; ``None`` for never) says the wait is over.

    ``enter`` runs once listening, before ``ready`` is first asked (a waiter's registration,
    for senders that notify only while someone waits); ``leave`` runs when the wait ends.
    """
    try:
        conn.execute(_listen(channel))
        try:
            if enter is not None:
                execute_sync(conn, enter, target)
            try:
                now, budget = _wait_budget(execute_sync(conn, ready, target), within)
                if now:
                    return True
                # Notifications that arrived while ``ready`` ran are kept by psycopg and come
                # first.
                for notify in conn.notifies(timeout=budget):
                    if notify.channel == channel and notify.payload == payload:
                        return True
                due = execute_sync(conn, ready, target)
                return due is not None and due <= 0
            finally:
                if leave is not None:
                    execute_sync(conn, leave, target)
        finally:
            conn.execute("UNLISTEN *")
    except psycopg.Error as exc:
        raise translate(exc, target=target) from exc


async def wait_async(
    conn: psycopg.AsyncConnection[Any],
    channel: str,
    payload: str,
    ready: Query[float | None],
    within: float,
    target: str,
    enter: Query[Any] | None = None,
    leave: Query[Any] | None = None,
) -> bool:
    """The async twin of :func:`wait_sync`."""
    try:
        await conn.execute(_listen(channel))
        try:
            if enter is not None:
                await execute_async(conn, enter, target)
            try:
                now, budget = _wait_budget(await execute_async(conn, ready, target), within)
                if now:
                    return True
                async for notify in conn.notifies(timeout=budget):
                    if notify.channel == channel and notify.payload == payload:
                        return True
                due = await execute_async(conn, ready, target)
                return due is not None and due <= 0
            finally:
                if leave is not None:
                    await execute_async(conn, leave, target)
        finally:
            await conn.execute("UNLISTEN *")
    except psycopg.Error as exc:
        raise translate(exc, target=target) from exc


def _in_transaction() -> Conflict:
    return Conflict(
        "waiting for a notification inside a transaction never sees one: notifications are "
        "delivered between transactions; wait on the database object, outside db.transaction()"
    )


# --- sync ------------------------------------------------------------------------------------


class _PoolRunner:
    __slots__ = ("_deadline", "_pool", "_target", "_timeout")

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[Any],
        target: str,
        timeout: float,
        deadline: float | None = None,
    ):
        self._pool = pool
        self._target = target
        self._timeout = timeout
        self._deadline = deadline

    def run(self, query: Query[T]) -> T:
        # The single-statement path, kept flat: no context managers, and no commit() on exit
        # (``with conn`` would take the connection's lock to commit what autocommit already
        # committed). execute_sync translates the statement's own errors.
        pool = self._pool
        try:
            conn = getconn(pool, self._timeout)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self._target) from exc
        try:
            return execute_sync(conn, query, self._target, self._deadline)
        finally:
            pool.putconn(conn)

    def wait(
        self,
        channel: str,
        payload: str,
        ready: Query[float | None],
        within: float,
        enter: Query[Any] | None = None,
        leave: Query[Any] | None = None,
    ) -> bool:
        """Wait on a pooled connection for a notification (see :func:`wait_sync`)."""
        try:
            with pooled(self._pool, self._timeout) as conn:
                return wait_sync(conn, channel, payload, ready, within, self._target, enter, leave)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self._target) from exc


class _ConnectionRunner:
    __slots__ = ("_conn", "_deadline", "_target")

    def __init__(self, conn: psycopg.Connection[Any], target: str, deadline: float | None = None):
        self._conn = conn
        self._target = target
        self._deadline = deadline

    def run(self, query: Query[T]) -> T:
        return execute_sync(self._conn, query, self._target, self._deadline)

    def wait(
        self,
        channel: str,
        payload: str,
        ready: Query[float | None],
        within: float,
        enter: Query[Any] | None = None,
        leave: Query[Any] | None = None,
    ) -> bool:
        raise _in_transaction()


class Transaction(Domains[SyncRunner]):
    """The domain namespaces bound to one connection inside one transaction."""

    def __init__(
        self, conn: psycopg.Connection[Any], target: str, deadline: float | None = None
    ) -> None:
        self.connection = conn
        self._bind(_ConnectionRunner(conn, target, deadline))


class ForgeDB(Domains[SyncRunner]):
    """The synchronous API: ``db.<domain>.<operation>(...)`` runs one statement on the pool."""

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[Any],
        settings: Settings,
        target: str,
        monitor: Monitor | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.target = target
        self._monitor = monitor
        self._replicas = monitor.replicas if monitor is not None else None
        if self._replicas is None:
            self._bind(_PoolRunner(pool, target, settings.pool_timeout, settings.call_deadline))
        else:
            self._bind(
                RoutedRunner(
                    pool, target, settings.pool_timeout, self._replicas, settings.call_deadline
                )
            )

    @classmethod
    def connect(cls, url: str | None = None, **options: Any) -> ForgeDB:
        """Open a pool on ``url``, else ``DATABASE_URL``, else the embedded server.

        ``replicas=[url, ...]``: streaming standbys of that server, which then serve ``@read``
        operations (see :mod:`forge_db.replicas`); the other options are :class:`Settings`.
        """
        # Taken out of the options, not declared, so that ``connect(url, **settings)`` with a
        # dict of Settings values keeps type-checking.
        standbys = _replica_urls(options.pop("replicas", ()))
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
            resolved, **pool_options(settings)
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
        if not standbys:
            return cls(pool, settings, target)
        monitor = Monitor(Replicas(standbys, settings), pool)
        try:
            monitor.start()
        except BaseException:
            monitor.close()
            pool.close()
            raise
        return cls(pool, settings, target, monitor)

    @contextmanager
    def transaction(
        self, *, isolation: Isolation | str | None = None, read_only: bool = False
    ) -> Iterator[Transaction]:
        """Run several operations atomically on one connection: commit on exit, else roll back."""
        setup = _set_transaction(isolation, read_only)
        try:
            with (
                pooled(self.pool, self.settings.pool_timeout) as conn,
                recording(self._replicas, conn, not read_only),
                conn.transaction(),
            ):
                if setup is not None:
                    conn.execute(setup)
                yield Transaction(conn, self.target, self.settings.call_deadline)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self.target) from exc

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Borrow a raw pooled connection (autocommit) for what no namespace offers."""
        try:
            with (
                pooled(self.pool, self.settings.pool_timeout) as conn,
                recording(self._replicas, conn, True),
            ):
                yield conn
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self.target) from exc

    def write_position(self) -> str | None:
        """This context's read-your-writes token: where its last write ended, or ``None``."""
        return self._replicas.position() if self._replicas is not None else None

    def reads_after(self, token: str | None) -> AbstractContextManager[None]:
        """Within the block, reads see every write up to ``token`` (from ``write_position``)."""
        if self._replicas is None:
            if token is not None:
                parse_lsn(token)
            return nullcontext()
        return self._replicas.after(token)

    def replica_status(self) -> list[ReplicaStatus]:
        """Each replica as the last health check found it."""
        return self._replicas.status() if self._replicas is not None else []

    def check_replicas(self) -> list[ReplicaStatus]:
        """Check every replica now (the monitor also does, every ``replica_check_interval``)."""
        return self._monitor.check() if self._monitor is not None else []

    def close(self) -> None:
        """Close the pool and every connection in it."""
        try:
            if self._monitor is not None:
                self._monitor.close()
        finally:
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
    __slots__ = ("_deadline", "_pool", "_target", "_timeout")

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        target: str,
        timeout: float,
        deadline: float | None = None,
    ):
        self._pool = pool
        self._target = target
        self._timeout = timeout
        self._deadline = deadline

    async def run(self, query: Query[T]) -> T:
        # Flat, as the sync twin is, for the same reasons.
        pool = self._pool
        try:
            conn = await getconn_async(pool, self._timeout)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self._target) from exc
        try:
            return await execute_async(conn, query, self._target, self._deadline)
        finally:
            await pool.putconn(conn)

    async def wait(
        self,
        channel: str,
        payload: str,
        ready: Query[float | None],
        within: float,
        enter: Query[Any] | None = None,
        leave: Query[Any] | None = None,
    ) -> bool:
        """Wait on a pooled connection for a notification (see :func:`wait_async`)."""
        try:
            async with pooled_async(self._pool, self._timeout) as conn:
                return await wait_async(
                    conn, channel, payload, ready, within, self._target, enter, leave
                )
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self._target) from exc


class _AsyncConnectionRunner(AsyncRunnerBase):
    __slots__ = ("_conn", "_deadline", "_target")

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], target: str, deadline: float | None = None
    ):
        self._conn = conn
        self._target = target
        self._deadline = deadline

    async def run(self, query: Query[T]) -> T:
        return await execute_async(self._conn, query, self._target, self._deadline)

    async def wait(
        self,
        channel: str,
        payload: str,
        ready: Query[float | None],
        within: float,
        enter: Query[Any] | None = None,
        leave: Query[Any] | None = None,
    ) -> bool:
        raise _in_transaction()


class AsyncTransaction(Domains[AsyncRunner]):
    """The async domain namespaces bound to one connection inside one transaction."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], target: str, deadline: float | None = None
    ) -> None:
        self.connection = conn
        self._bind(_AsyncConnectionRunner(conn, target, deadline))


class AsyncForgeDB(Domains[AsyncRunner]):
    """The asyncio API: ``await adb.<domain>.<operation>(...)``, same operations as ForgeDB."""

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        settings: Settings,
        target: str,
        monitor: AsyncMonitor | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.target = target
        self._monitor = monitor
        self._replicas = monitor.replicas if monitor is not None else None
        if self._replicas is None:
            self._bind(
                _AsyncPoolRunner(pool, target, settings.pool_timeout, settings.call_deadline)
            )
        else:
            self._bind(
                AsyncRoutedRunner(
                    pool, target, settings.pool_timeout, self._replicas, settings.call_deadline
                )
            )

    @classmethod
    async def connect(cls, url: str | None = None, **options: Any) -> AsyncForgeDB:
        """Open a pool on ``url``, else ``DATABASE_URL``, else the embedded server.

        ``replicas=[url, ...]``: streaming standbys of that server, which then serve ``@read``
        operations (see :mod:`forge_db.replicas`); the other options are :class:`Settings`.
        """
        # Taken out of the options, not declared, so that ``connect(url, **settings)`` with a
        # dict of Settings values keeps type-checking.
        standbys = _replica_urls(options.pop("replicas", ()))
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
            resolved, **pool_options(settings)
        )
        try:
            await pool.open(wait=True, timeout=settings.connect_timeout)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg_pool.PoolTimeout):
                raise translate(exc, target=target) from exc
            raise
        if not standbys:
            return cls(pool, settings, target)
        monitor = AsyncMonitor(Replicas(standbys, settings), pool)
        try:
            await monitor.start()
        except BaseException:
            await monitor.close()
            await pool.close()
            raise
        return cls(pool, settings, target, monitor)

    @asynccontextmanager
    async def transaction(
        self, *, isolation: Isolation | str | None = None, read_only: bool = False
    ) -> AsyncIterator[AsyncTransaction]:
        """Run several operations atomically on one connection: commit on exit, else roll back."""
        setup = _set_transaction(isolation, read_only)
        try:
            async with (
                pooled_async(self.pool, self.settings.pool_timeout) as conn,
                recording_async(self._replicas, conn, not read_only),
                conn.transaction(),
            ):
                if setup is not None:
                    await conn.execute(setup)
                yield AsyncTransaction(conn, self.target, self.settings.call_deadline)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self.target) from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Borrow a raw pooled connection (autocommit) for what no namespace offers."""
        try:
            async with (
                pooled_async(self.pool, self.settings.pool_timeout) as conn,
                recording_async(self._replicas, conn, True),
            ):
                yield conn
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, target=self.target) from exc

    def write_position(self) -> str | None:
        """This context's read-your-writes token: where its last write ended, or ``None``."""
        return self._replicas.position() if self._replicas is not None else None

    def reads_after(self, token: str | None) -> AbstractContextManager[None]:
        """Within the block, reads see every write up to ``token`` (from ``write_position``)."""
        if self._replicas is None:
            if token is not None:
                parse_lsn(token)
            return nullcontext()
        return self._replicas.after(token)

    def replica_status(self) -> list[ReplicaStatus]:
        """Each replica as the last health check found it."""
        return self._replicas.status() if self._replicas is not None else []

    async def check_replicas(self) -> list[ReplicaStatus]:
        """Check every replica now (the monitor also does, every ``replica_check_interval``)."""
        return await self._monitor.check() if self._monitor is not None else []

    async def close(self) -> None:
        """Close the pool and every connection in it."""
        try:
            if self._monitor is not None:
                await self._monitor.close()
        finally:
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
