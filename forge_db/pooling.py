"""Pooled connections checked for a live server before a statement is sent on them."""

from __future__ import annotations

import select
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from time import monotonic
from typing import Any

import psycopg
import psycopg_pool

from .config import Settings

__all__ = ["getconn", "getconn_async", "pool_options", "pooled", "pooled_async", "suspect"]


def pool_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for a psycopg pool implementing ``settings`` (opened by the caller)."""
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
def suspect(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection may have lost its server (input waiting, or closed)."""
    # ``closed`` covers ``broken`` too (psycopg: a broken connection is always closed).
    return conn.closed or _readable(conn.fileno())


def _hung_up(conn: psycopg.Connection[Any]) -> bool:
    if conn.closed:
        return True
    try:
        conn.execute("")
    except psycopg.Error:
        return True
    return False


async def _hung_up_async(conn: psycopg.AsyncConnection[Any]) -> bool:
    if conn.closed:
        return True
    try:
        await conn.execute("")
    except psycopg.Error:
        return True
    return False


def getconn(pool: psycopg_pool.ConnectionPool[Any], within: float) -> psycopg.Connection[Any]:
    """A pooled connection whose server is still there.

    Connections found dead are handed back (the pool replaces them) before any statement was
    sent on them, so the caller's statement runs exactly once, on a live connection: nothing
    is ever retried, which would be wrong for a write that may have committed. Unlike the
    pool's own ``check``, no back-off sleep follows a dead connection.
    """
    deadline = monotonic() + within
    timeout = within
    while True:
        conn: psycopg.Connection[Any] = pool.getconn(timeout=timeout)
        if not (suspect(conn) and _hung_up(conn)):
            return conn
        pool.putconn(conn)
        timeout = max(0.0, deadline - monotonic())


async def getconn_async(
    pool: psycopg_pool.AsyncConnectionPool[Any], within: float
) -> psycopg.AsyncConnection[Any]:
    """The async twin of :func:`getconn`."""
    deadline = monotonic() + within
    timeout = within
    while True:
        conn: psycopg.AsyncConnection[Any] = await pool.getconn(timeout=timeout)
        if not (suspect(conn) and await _hung_up_async(conn)):
            return conn
        await pool.putconn(conn)
        timeout = max(0.0, deadline - monotonic())


@contextmanager
def pooled(
    pool: psycopg_pool.ConnectionPool[Any], within: float
) -> Iterator[psycopg.Connection[Any]]:
    """Like ``pool.connection()``, with the connection checked as :func:`getconn` does."""
    conn = getconn(pool, within)
    try:
        with conn:
            yield conn
    finally:
        pool.putconn(conn)


@asynccontextmanager
async def pooled_async(
    pool: psycopg_pool.AsyncConnectionPool[Any], within: float
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The async twin of :func:`pooled`."""
    conn = await getconn_async(pool, within)
    try:
        async with conn:
            yield conn
    finally:
        await pool.putconn(conn)
