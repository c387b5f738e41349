"""Read replicas: reads go to a streaming standby that has replayed what the caller wrote.

``ForgeDB.connect(url, replicas=[...])`` keeps a pool per replica beside the primary's. An
operation declared ``@read`` goes to a replica in rotation; ``@write`` operations,
transactions and borrowed connections go to the primary. After a write the primary's WAL
insert position (its LSN) is kept in a context variable of the caller: a later read in the same
context goes to a replica only once that replica is known to have replayed past it, else to the
primary (read-your-writes). The position is also a token (``db.write_position()``) that a web
backend carries in a cookie to the next request, which reads under ``db.reads_after(token)``.

A monitor (a thread for ``ForgeDB``, a task for ``AsyncForgeDB``) asks each replica how far it
has replayed and the primary how far it has written, every ``replica_check_interval`` seconds:
calls themselves never pay a health round trip. A replica that is unreachable, no longer in
recovery, or more than ``replica_max_lag`` seconds behind leaves the rotation until a check
finds it well again. A read whose replica connection fails on the way is run on the primary
instead (a read is safe to run again), so a replica going down surfaces no error.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from time import monotonic
from typing import Any, Final

import psycopg
import psycopg_pool
from psycopg import errors as pgerrors

from . import config
from .config import Settings
from .errors import ForgeDBError, InvalidInput, translate
from .pooling import pool_options, pooled, pooled_async, suspect
from .query import AsyncRunnerBase, Query, T, execute_async, execute_sync

__all__ = [
    "AsyncMonitor",
    "AsyncRoutedRunner",
    "Monitor",
    "ReplicaStatus",
    "Replicas",
    "RoutedRunner",
    "format_lsn",
    "parse_lsn",
]

_LSN: Final = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")
# Where the primary's WAL ends: after a commit it covers the commit record, whether or not
# synchronous_commit has flushed it yet (pg_current_wal_lsn would not).
WRITTEN: Final = "SELECT pg_current_wal_insert_lsn()::text"
_PRIMARY_HEALTH: Final = "SELECT pg_current_wal_lsn()::text"
_REPLICA_HEALTH: Final = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
# A replica's read that fails this way is run again on the primary: the replica went away, or
# replay cancelled the statement (a recovery conflict is reported as a serialization failure).
_RETRY_ON_PRIMARY: Final = (pgerrors.SerializationFailure, pgerrors.DeadlockDetected)


def parse_lsn(text: object, field: str = "token") -> int:
    """A WAL position spelled as PostgreSQL does (``16/B374D848``) as a number."""
    if not isinstance(text, str) or not _LSN.fullmatch(text):
        raise InvalidInput(f"{field}: not a WAL position such as '0/16B3748'", field=field)
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    """A WAL position as PostgreSQL spells it."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaStatus:
    """What the last check found of one replica."""

    target: str
    in_rotation: bool
    replayed: str | None  # the WAL position it had replayed
    lag_seconds: float | None  # how long the oldest WAL it had not replayed had been written
    reason: str | None  # why it is out of rotation


class _Replica:
    __slots__ = ("broken", "conn", "lag", "pool", "reason", "replayed", "target", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        self.target = config.target_of(url)
        self.pool: Any = None  # a pool opened by the monitor once the replica answered
        self.conn: Any = None  # the monitor's own connection
        self.broken = False  # a read lost its connection: the pool is replaced at the next check
        self.replayed = -1
        self.lag = float("inf")
        self.reason: str | None = "not checked yet"


class Replicas:
    """The replicas' health and the caller's read-your-writes position: decisions, no I/O."""

    def __init__(self, urls: Sequence[str], settings: Settings) -> None:
        self.replicas = [_Replica(url) for url in urls]
        self.settings = settings
        self.max_lag = settings.replica_max_lag
        # A new variable per database object: two ForgeDBs on different primaries keep apart.
        self._written: ContextVar[int] = ContextVar(f"forge_db_written_{id(self):x}", default=0)
        self._samples: deque[tuple[float, int]] = deque()  # (when, primary's WAL end)
        self._turn = itertools.count()

    # --- read-your-writes

    def wrote(self, lsn_text: str | None) -> None:
        """Remember that this context wrote up to ``lsn_text``."""
        if lsn_text is not None:
            lsn = parse_lsn(lsn_text, "lsn")
            if lsn > self._written.get():
                self._written.set(lsn)

    def position(self) -> str | None:
        """This context's read-your-writes position, as a token; ``None`` before any write."""
        lsn = self._written.get()
        return format_lsn(lsn) if lsn else None

    def after(self, token: str | None) -> AbstractContextManager[None]:
        """Within the block, reads see at least what was written up to ``token``."""
        # Parsed here, so that a bad token is refused by the call, before any ``with``.
        return self._after(0 if token is None else parse_lsn(token))

    @contextmanager
    def _after(self, lsn: int) -> Iterator[None]:
        reset = self._written.set(max(lsn, self._written.get()))
        try:
            yield
        finally:
            self._written.reset(reset)

    def pick(self) -> _Replica | None:
        """A replica in rotation that has replayed this context's writes, in turn; or None."""
        needed = self._written.get()
        count = len(self.replicas)
        first = next(self._turn)
        for step in range(count):
            replica = self.replicas[(first + step) % count]
            if (
                replica.reason is None
                and not replica.broken
                and replica.pool is not None
                and replica.replayed >= needed
                and replica.lag <= self.max_lag
            ):
                return replica
        return None

    def lost(self, replica: _Replica) -> None:
        """A read found the replica's connection dead: out of rotation until the next check."""
        replica.broken = True

    # --- health

    def observe_primary(self, lsn_text: str, at: float) -> None:
        """The primary had written up to ``lsn_text`` at ``at``."""
        self._samples.append((at, parse_lsn(lsn_text, "lsn")))
        # Older samples than the bound plus a check or two tell nothing more about lag.
        keep = self.max_lag + 2 * self.settings.replica_check_interval
        while len(self._samples) > 1 and self._samples[0][0] < at - keep:
            self._samples.popleft()

    def observe(self, replica: _Replica, row: tuple[Any, ...] | None, at: float) -> bool:
        """Record a replica's health row; whether it belongs in the rotation."""
        in_recovery, replayed = row if row is not None else (False, None)
        if not in_recovery:
            replica.reason = "not a standby (not in recovery)"
            return False
        if replayed is None:
            replica.reason = "has replayed nothing yet"
            return False
        replica.replayed = parse_lsn(replayed, "lsn")
        behind = [when for when, lsn in self._samples if lsn > replica.replayed]
        replica.lag = at - behind[0] if behind else 0.0
        if replica.lag > self.max_lag:
            replica.reason = f"lags {replica.lag:.1f} s behind the primary"
            return False
        replica.reason = None
        return True

    def down(self, replica: _Replica, exc: BaseException) -> None:
        """The check could not reach the replica."""
        text = str(exc).strip().splitlines()
        replica.reason = f"unreachable: {text[-1] if text else type(exc).__name__}"
        replica.lag = float("inf")

    def status(self) -> list[ReplicaStatus]:
        """Each replica as the last check found it."""
        return [
            ReplicaStatus(
                target=r.target,
                in_rotation=r.reason is None and not r.broken and r.pool is not None,
                replayed=format_lsn(r.replayed) if r.replayed >= 0 else None,
                lag_seconds=None if r.lag == float("inf") else r.lag,
                reason=r.reason
                if r.reason is not None
                else ("its connection was lost" if r.broken else None),
            )
            for r in self.replicas
        ]

    def replica_pool_options(self) -> dict[str, Any]:
        """Pool options for a replica's pool."""
        options = pool_options(self.settings)
        options["name"] = f"{self.settings.application_name}-replica"
        return options

    @property
    def checkout_timeout(self) -> float:
        """How long a read waits for a replica's connection before it takes the primary's."""
        return min(0.25, self.settings.pool_timeout)


def _retry_on_primary(exc: ForgeDBError, conn: Any) -> bool:
    # Closed: lost, or closed after its deadline fired (forge_db.deadline); either way the
    # replica did not answer and the read may run again on the primary.
    return bool(conn.closed or isinstance(exc.__cause__, _RETRY_ON_PRIMARY))


# --- sync ------------------------------------------------------------------------------------


class Monitor:
    """Checks the replicas from a thread of its own, every ``replica_check_interval``."""

    def __init__(self, replicas: Replicas, primary: psycopg_pool.ConnectionPool[Any]) -> None:
        self.replicas = replicas
        self.primary = primary
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="forge_db-replicas", daemon=True)

    def start(self) -> None:
        """Check once now, then keep checking in the background."""
        self.check()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.replicas.settings.replica_check_interval):
            self.check()

    def check(self) -> list[ReplicaStatus]:
        """Ask the primary and every replica now; the replicas' status after it."""
        with self._lock:
            settings = self.replicas.settings
            at = monotonic()
            try:
                with pooled(self.primary, settings.pool_timeout) as conn:
                    row = conn.execute(_PRIMARY_HEALTH).fetchone()
                if row is not None:
                    self.replicas.observe_primary(row[0], at)
            except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed):
                pass  # lag is then judged against what the primary said last
            for replica in self.replicas.replicas:
                self._check(replica, at)
            return self.replicas.status()

    def _check(self, replica: _Replica, at: float) -> None:
        settings = self.replicas.settings
        try:
            if replica.conn is None or replica.conn.closed or replica.conn.broken:
                replica.conn = psycopg.connect(replica.url, **settings.connection_kwargs())
            row = replica.conn.execute(_REPLICA_HEALTH).fetchone()
        except psycopg.Error as exc:
            self._close(replica)
            self.replicas.down(replica, exc)
            return
        if not self.replicas.observe(replica, row, at):
            return
        if replica.pool is None or replica.broken:
            pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                replica.url, **self.replicas.replica_pool_options()
            )
            try:
                pool.open(wait=True, timeout=settings.connect_timeout)
            except psycopg_pool.PoolTimeout as exc:
                pool.close()
                self.replicas.down(replica, exc)
                return
            old, replica.pool, replica.broken = replica.pool, pool, False
            if old is not None:
                old.close()

    def _close(self, replica: _Replica) -> None:
        pool, replica.pool = replica.pool, None
        if pool is not None:
            pool.close()
        conn, replica.conn = replica.conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Stop checking and close the replicas' pools."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            for replica in self.replicas.replicas:
                self._close(replica)


class RoutedRunner:
    """Runs writes on the primary (keeping their position) and reads on a fresh replica."""

    __slots__ = ("_deadline", "_pool", "_replicas", "_target", "_timeout")

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[Any],
        target: str,
        timeout: float,
        replicas: Replicas,
        deadline: float | None = None,
    ) -> None:
        self._pool = pool
        self._target = target
        self._timeout = timeout
        self._replicas = replicas
        self._deadline = deadline

    def run(self, query: Query[T]) -> T:
        """A write: on the primary, then this context remembers the primary's WAL end."""
        try:
            with pooled(self._pool, self._timeout) as conn:
                result = execute_sync(conn, query, self._target, self._deadline)
                row = conn.execute(WRITTEN).fetchone()
                self._replicas.wrote(row[0] if row else None)
                return result
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self._target) from exc

    def run_read(self, query: Query[T]) -> T:
        """A read: on a replica that has replayed this context's writes, else on the primary."""
        replica = self._replicas.pick()
        pool = replica.pool if replica is not None else None
        if replica is not None and pool is not None:
            try:
                conn = pool.getconn(timeout=self._replicas.checkout_timeout)
            except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed):
                conn = None  # busy, or closed by the monitor just now: the primary serves
            if conn is not None:
                try:
                    if suspect(conn) and _dead(conn):
                        self._replicas.lost(replica)
                    else:
                        try:
                            return execute_sync(conn, query, replica.target, self._deadline)
                        except ForgeDBError as exc:
                            if not _retry_on_primary(exc, conn):
                                raise
                            if conn.closed:
                                self._replicas.lost(replica)
                finally:
                    pool.putconn(conn)
        try:
            with pooled(self._pool, self._timeout) as conn:
                return execute_sync(conn, query, self._target, self._deadline)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self._target) from exc


def _dead(conn: psycopg.Connection[Any]) -> bool:
    try:
        conn.execute("")
    except psycopg.Error:
        return True
    return conn.broken


# --- async -----------------------------------------------------------------------------------


class AsyncMonitor:
    """The async twin of :class:`Monitor`: a task of the event loop that opened the database."""

    def __init__(self, replicas: Replicas, primary: psycopg_pool.AsyncConnectionPool[Any]) -> None:
        self.replicas = replicas
        self.primary = primary
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check once now, then keep checking in the background."""
        await self.check()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.replicas.settings.replica_check_interval)
            await self.check()

    async def check(self) -> list[ReplicaStatus]:
        """Ask the primary and every replica now; the replicas' status after it."""
        async with self._lock:
            settings = self.replicas.settings
            at = monotonic()
            try:
                async with pooled_async(self.primary, settings.pool_timeout) as conn:
                    row = await (await conn.execute(_PRIMARY_HEALTH)).fetchone()
                if row is not None:
                    self.replicas.observe_primary(row[0], at)
            except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed):
                pass
            for replica in self.replicas.replicas:
                await self._check(replica, at)
            return self.replicas.status()

    async def _check(self, replica: _Replica, at: float) -> None:
        settings = self.replicas.settings
        try:
            if replica.conn is None or replica.conn.closed or replica.conn.broken:
                replica.conn = await psycopg.AsyncConnection.connect(
                    replica.url, **settings.connection_kwargs()
                )
            row = await (await replica.conn.execute(_REPLICA_HEALTH)).fetchone()
        except psycopg.Error as exc:
            await self._close(replica)
            self.replicas.down(replica, exc)
            return
        if not self.replicas.observe(replica, row, at):
            return
        if replica.pool is None or replica.broken:
            pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
                replica.url, **self.replicas.replica_pool_options()
            )
            try:
                await pool.open(wait=True, timeout=settings.connect_timeout)
            except psycopg_pool.PoolTimeout as exc:
                await pool.close()
                self.replicas.down(replica, exc)
                return
            old, replica.pool, replica.broken = replica.pool, pool, False
            if old is not None:
                await old.close()

    async def _close(self, replica: _Replica) -> None:
        pool, replica.pool = replica.pool, None
        if pool is not None:
            await pool.close()
        conn, replica.conn = replica.conn, None
        if conn is not None:
            await conn.close()

    async def close(self) -> None:
        """Stop checking and close the replicas' pools."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock:
            for replica in self.replicas.replicas:
                await self._close(replica)


class AsyncRoutedRunner(AsyncRunnerBase):
    """The async twin of :class:`RoutedRunner`."""

    __slots__ = ("_deadline", "_pool", "_replicas", "_target", "_timeout")

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        target: str,
        timeout: float,
        replicas: Replicas,
        deadline: float | None = None,
    ) -> None:
        self._pool = pool
        self._target = target
        self._timeout = timeout
        self._replicas = replicas
        self._deadline = deadline

    async def run(self, query: Query[T]) -> T:
        """A write: on the primary, then this context remembers the primary's WAL end."""
        try:
            async with pooled_async(self._pool, self._timeout) as conn:
                result = await execute_async(conn, query, self._target, self._deadline)
                row = await (await conn.execute(WRITTEN)).fetchone()
                self._replicas.wrote(row[0] if row else None)
                return result
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self._target) from exc

    async def run_read(self, query: Query[T]) -> T:
        """A read: on a replica that has replayed this context's writes, else on the primary."""
        replica = self._replicas.pick()
        pool = replica.pool if replica is not None else None
        if replica is not None and pool is not None:
            try:
                conn = await pool.getconn(timeout=self._replicas.checkout_timeout)
            except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed):
                conn = None
            if conn is not None:
                try:
                    if suspect(conn) and await _dead_async(conn):
                        self._replicas.lost(replica)
                    else:
                        try:
                            return await execute_async(conn, query, replica.target, self._deadline)
                        except ForgeDBError as exc:
                            if not _retry_on_primary(exc, conn):
                                raise
                            if conn.closed:
                                self._replicas.lost(replica)
                finally:
                    await pool.putconn(conn)
        try:
            async with pooled_async(self._pool, self._timeout) as conn:
                return await execute_async(conn, query, self._target, self._deadline)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc, target=self._target) from exc


async def _dead_async(conn: psycopg.AsyncConnection[Any]) -> bool:
    try:
        await conn.execute("")
    except psycopg.Error:
        return True
    return conn.broken


@contextmanager
def recording(
    replicas: Replicas | None, conn: psycopg.Connection[Any], wrote: bool
) -> Iterator[None]:
    """After the block, remember the primary's WAL end if the block may have written."""
    yield
    if replicas is not None and wrote and not conn.broken:
        row = conn.execute(WRITTEN).fetchone()
        replicas.wrote(row[0] if row else None)


@asynccontextmanager
async def recording_async(
    replicas: Replicas | None, conn: psycopg.AsyncConnection[Any], wrote: bool
) -> AsyncIterator[None]:
    """The async twin of :func:`recording`."""
    yield
    if replicas is not None and wrote and not conn.broken:
        row = await (await conn.execute(WRITTEN)).fetchone()
        replicas.wrote(row[0] if row else None)
