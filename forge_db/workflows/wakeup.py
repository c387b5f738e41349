"""Idle runners sleep until new work is announced, in sync and async code, instead of polling.

Starting a run, and finishing a step that makes others claimable, send a NOTIFY on
:data:`~forge_db.workflows.sql.CHANNEL` when they commit. A runner that found nothing to claim
waits on its own listening connection for that notification (or for a timeout, which also
picks up retries whose backoff has passed), then claims again::

    with listening(db) as waiter:
        while True:
            step = db.workflows.claim_step(runner_id, runner_token=token)
            if step is None:
                waiter.wait(timeout=5.0)
                continue
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql

from ..database import AsyncForgeDB, ForgeDB
from ..errors import translate
from .sql import CHANNEL

__all__ = ["AsyncWaiter", "Waiter", "listening", "listening_async"]

_LISTEN = pgsql.SQL("LISTEN {}").format(pgsql.Identifier(CHANNEL))


class Waiter:
    """A connection listening for new work."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def wait(self, timeout: float) -> bool:
        """Block until work is announced (``True``) or ``timeout`` seconds pass (``False``)."""
        try:
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error as exc:
            raise translate(exc) from exc
        return False


class AsyncWaiter:
    """The async twin of :class:`Waiter`."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 - the twin of Waiter.wait
        """Wait until work is announced (``True``) or ``timeout`` seconds pass (``False``)."""
        try:
            async for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error as exc:
            raise translate(exc) from exc
        return False


def _conninfo(conninfo: object) -> str:
    # ForgeDB opens its pools on a URL; a pool made otherwise may hold a function instead.
    if not isinstance(conninfo, str):
        raise TypeError("listening needs a ForgeDB opened on a connection URL")
    return conninfo


@contextmanager
def listening(db: ForgeDB) -> Iterator[Waiter]:
    """A dedicated connection of ``db``'s server that listens for new work while open."""
    try:
        conn = psycopg.connect(
            _conninfo(db.pool.conninfo), **{**db.settings.connection_kwargs(), "autocommit": True}
        )
    except psycopg.Error as exc:
        raise translate(exc, target=db.target) from exc
    with conn:
        conn.execute(_LISTEN)
        yield Waiter(conn)


@asynccontextmanager
async def listening_async(db: AsyncForgeDB) -> AsyncIterator[AsyncWaiter]:
    """The async twin of :func:`listening`."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            _conninfo(db.pool.conninfo), **{**db.settings.connection_kwargs(), "autocommit": True}
        )
    except psycopg.Error as exc:
        raise translate(exc, target=db.target) from exc
    async with conn:
        await conn.execute(_LISTEN)
        yield AsyncWaiter(conn)
