"""The client-side deadline: a frozen backend or a lock wait cannot hold a call past it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from forge_db import AsyncForgeDB, ForgeDB, NotFound, Unavailable
from forge_db.config import Settings

# The frozen-backend setting the deadline exists for: the server's own limits cannot fire.
FROZEN = {"min_size": 1, "max_size": 1, "statement_timeout": 1.0, "pool_timeout": 2.0}


def _backend_pid(db: ForgeDB) -> int:
    with db.connection() as conn:
        return conn.info.backend_pid


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The backend ``pid`` stopped (SIGSTOP) for the block, and always resumed after it."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except PermissionError:
        pytest.skip("the server's backends belong to another user: they cannot be stopped")
    try:
        yield
    finally:
        # A stopped backend would hold up every other test's DROP DATABASE (a barrier that
        # each backend must absorb), so it never stays stopped past the test.
        os.kill(pid, signal.SIGCONT)


def test_a_frozen_backend_holds_a_call_past_every_server_side_limit(database_url: str) -> None:
    """Why the deadline exists: statement_timeout and pool_timeout do not end this call."""
    with ForgeDB.connect(database_url, deadline=3600.0, **FROZEN) as db:
        pid = _backend_pid(db)
        outcome: list[BaseException] = []

        def call() -> None:
            try:
                db.users.get(1)
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

        caller = threading.Thread(target=call)
        with frozen(pid):
            caller.start()
            caller.join(4.0)
            assert caller.is_alive(), f"the call returned on a frozen backend: {outcome}"
        caller.join(30.0)
        assert not caller.is_alive()
        assert [type(e) for e in outcome] == [NotFound]  # it answered once resumed


def _call_while_frozen(pid: int, call: Callable[[], object]) -> BaseException | None:
    """What ``call`` raised while backend ``pid`` was stopped; it fails rather than hangs.

    The backend resumes after at most LIMIT seconds whatever the call does, so a broken
    deadline shows as a call that returned only once its server came back.
    """
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    caller = threading.Thread(target=target)
    with frozen(pid):
        caller.start()
        caller.join(LIMIT)
        ended_while_frozen = not caller.is_alive()
    caller.join(LIMIT)
    assert ended_while_frozen, "the call waited for the frozen backend to resume"
    return outcome[0]


LIMIT = 30.0


def test_a_call_on_a_frozen_backend_raises_unavailable_at_its_deadline(database_url: str) -> None:
    with ForgeDB.connect(database_url, deadline=1.5, **FROZEN) as db:
        pid = _backend_pid(db)
        error = _call_while_frozen(pid, lambda: db.users.get(1))
        assert isinstance(error, Unavailable), error
        assert "1.5 s deadline" in str(error)
        assert "did not answer the cancel request, so the connection was closed" in str(error)
        # The pool dropped the frozen connection: the next call gets a new backend.
        with pytest.raises(NotFound):
            db.users.get(1)
        assert _backend_pid(db) != pid


@pytest.mark.anyio
async def test_an_async_call_on_a_frozen_backend_raises_unavailable_at_its_deadline(
    database_url: str,
) -> None:
    adb = await AsyncForgeDB.connect(database_url, deadline=1.5, **FROZEN)
    try:
        async with adb.connection() as conn:
            pid = conn.info.backend_pid
        with frozen(pid), pytest.raises(Unavailable, match=r"1\.5 s deadline.*was closed"):
            # Bounded, so that a broken deadline fails the test instead of hanging it.
            await asyncio.wait_for(adb.users.get(1), LIMIT)
        with pytest.raises(NotFound):
            await adb.users.get(1)
        async with adb.connection() as conn:
            assert conn.info.backend_pid != pid
    finally:
        await adb.close()


@contextlib.contextmanager
def users_locked(url: str) -> Iterator[None]:
    """Another session holding an exclusive lock on users, so any read of it waits."""
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()


def test_a_live_backend_past_the_deadline_is_cancelled_and_its_connection_replaced(
    database_url: str,
) -> None:
    options = {"min_size": 1, "max_size": 1, "statement_timeout": 60.0}
    with ForgeDB.connect(database_url, deadline=0.5, **options) as db:
        pid = _backend_pid(db)
        started = time.monotonic()
        with users_locked(database_url), pytest.raises(Unavailable) as caught:
            db.users.get(1)
        assert time.monotonic() - started < 30  # not the 60 s statement_timeout
        assert "0.5 s deadline" in str(caught.value)
        assert str(caught.value).endswith(": it was cancelled")
        assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
        # A late cancel request must not reach the next caller: the connection is not reused.
        assert _backend_pid(db) != pid
        with pytest.raises(NotFound):
            db.users.get(1)


def test_a_statement_in_a_transaction_has_the_deadline_too(database_url: str) -> None:
    with ForgeDB.connect(database_url, deadline=0.5, min_size=1, max_size=2) as db:
        with users_locked(database_url), pytest.raises(Unavailable, match=r"0\.5 s deadline"):  # noqa: SIM117
            with db.transaction() as tx:
                tx.users.get(1)
        with pytest.raises(NotFound):
            db.users.get(1)


def test_a_call_that_answers_in_time_keeps_its_connection(database_url: str) -> None:
    with ForgeDB.connect(database_url, deadline=5.0, min_size=1, max_size=1) as db:
        pid = _backend_pid(db)
        for _ in range(50):
            with pytest.raises(NotFound):
                db.users.get(1)
        assert _backend_pid(db) == pid


def test_the_default_deadline_follows_statement_timeout() -> None:
    assert Settings().call_deadline == 35.0
    assert Settings(statement_timeout=2.0).call_deadline == 7.0
    assert Settings(statement_timeout=None).call_deadline is None
    assert Settings(statement_timeout=None, deadline=9.0).call_deadline == 9.0
    assert Settings(deadline=0.25).call_deadline == 0.25
