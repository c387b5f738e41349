"""db.jj.locks: TTL locks per (workspace, operation), exclusive, expiring, fenced."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, NotFound, PermissionDenied
from forge_db.jj import Workspace, WorkspaceLock
from forge_db.jj.locks import lock_name

from .conftest import World

Conn = psycopg.Connection[Any]


def _workspace(fdb: ForgeDB, world: World) -> Workspace:
    return fdb.jj.create_workspace(world.repo.id, actor_id=world.writer.id, name="w")


def _lock(
    fdb: ForgeDB, world: World, ws: Workspace, agent: uuid.UUID, operation: str = "sync"
) -> WorkspaceLock:
    return fdb.jj.lock_workspace(
        world.repo.id,
        ws.id,
        actor_id=world.writer.id,
        agent_id=agent,
        operation=operation,  # type: ignore[arg-type]
        lease=60,
    )


def _expire(conn: Conn, ws: Workspace, operation: str = "sync") -> None:
    """Let the lock's TTL run out (without waiting for it)."""
    conn.execute(
        "UPDATE leases SET acquired_at = now() - interval '2 minutes', "
        "expires_at = now() - interval '1 second' WHERE name = %s",
        (lock_name(ws.id, operation),),
    )


def test_a_lock_is_held_by_one_agent_until_released(fdb: ForgeDB, world: World) -> None:
    ws = _workspace(fdb, world)
    first, second = uuid.uuid4(), uuid.uuid4()
    taken = _lock(fdb, world, ws, first)
    assert taken.acquired
    assert (taken.holder, taken.workspace_id, taken.operation) == (str(first), ws.id, "sync")
    refused = _lock(fdb, world, ws, second)
    assert not refused.acquired
    assert (refused.holder, refused.fencing_token) == (str(first), taken.fencing_token)
    assert _lock(fdb, world, ws, second, "modify").acquired  # another operation, another lock
    renewed = _lock(fdb, world, ws, first)  # the holder again: renewed, same token
    assert renewed.acquired
    assert renewed.fencing_token == taken.fencing_token
    assert fdb.jj.unlock_workspace(
        world.repo.id,
        ws.id,
        actor_id=world.writer.id,
        agent_id=first,
        operation="sync",
        token=taken.fencing_token,
    )
    again = _lock(fdb, world, ws, second)
    assert again.acquired
    assert again.fencing_token > taken.fencing_token


def test_the_lock_is_exclusive_under_sixteen_threads(db: ForgeDB, world: World) -> None:
    ws = _workspace(db, world)
    agents = [uuid.uuid4() for _ in range(16)]
    barrier = threading.Barrier(len(agents))

    def take(agent: uuid.UUID) -> WorkspaceLock:
        barrier.wait()
        return _lock(db, world, ws, agent)

    with ThreadPoolExecutor(len(agents)) as pool:
        results = list(pool.map(take, agents))
    winners = [r for r in results if r.acquired]
    assert len(winners) == 1
    assert {r.holder for r in results} == {winners[0].holder}
    assert {r.fencing_token for r in results} == {winners[0].fencing_token}


def test_an_expired_lock_is_taken_over_and_the_old_token_is_stale(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    ws = _workspace(fdb, world)
    first, second = uuid.uuid4(), uuid.uuid4()
    old = _lock(fdb, world, ws, first)
    _expire(conn, ws)
    new = _lock(fdb, world, ws, second)
    assert new.acquired
    assert new.fencing_token > old.fencing_token
    with pytest.raises(Conflict):
        fdb.jj.locks.renew(
            world.repo.id,
            ws.id,
            actor_id=world.writer.id,
            agent_id=first,
            operation="sync",
            token=old.fencing_token,
        )
    assert not fdb.jj.unlock_workspace(
        world.repo.id,
        ws.id,
        actor_id=world.writer.id,
        agent_id=first,
        operation="sync",
        token=old.fencing_token,
    )
    expires = fdb.jj.locks.renew(
        world.repo.id,
        ws.id,
        actor_id=world.writer.id,
        agent_id=second,
        operation="sync",
        token=new.fencing_token,
        lease=600,
    )
    assert expires > new.expires_at


def test_sixteen_threads_after_expiry_still_leave_one_holder(
    db: ForgeDB, world: World, conn: Conn
) -> None:
    ws = _workspace(db, world)
    original = _lock(db, world, ws, uuid.uuid4())
    _expire(conn, ws)
    barrier = threading.Barrier(16)

    def take(_: int) -> WorkspaceLock:
        barrier.wait()
        return _lock(db, world, ws, uuid.uuid4())

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(take, range(16)))
    winners = [r for r in results if r.acquired]
    assert len(winners) == 1
    assert winners[0].fencing_token > original.fencing_token


def test_locks_need_a_live_workspace_of_the_repository_and_the_write_role(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    ws = _workspace(fdb, world)
    other = fdb.jj.create_workspace(world.private.id, actor_id=world.owner.id, name="p")
    with pytest.raises(NotFound):
        fdb.jj.lock_workspace(
            world.repo.id,
            other.id,
            actor_id=world.writer.id,
            agent_id=uuid.uuid4(),
            operation="sync",
        )
    with pytest.raises(NotFound):
        fdb.jj.lock_workspace(
            world.private.id,
            other.id,
            actor_id=world.stranger.id,
            agent_id=uuid.uuid4(),
            operation="sync",
        )
    with pytest.raises(PermissionDenied):
        fdb.jj.lock_workspace(
            world.repo.id, ws.id, actor_id=world.reader.id, agent_id=uuid.uuid4(), operation="sync"
        )
    agent = uuid.uuid4()
    held = _lock(fdb, world, ws, agent)
    fdb.jj.transition_workspace(world.repo.id, ws.id, actor_id=world.writer.id, state="archived")
    with pytest.raises(NotFound, match="archived"):
        _lock(fdb, world, ws, uuid.uuid4())
    assert fdb.jj.unlock_workspace(  # what was held before the archive can still be given back
        world.repo.id,
        ws.id,
        actor_id=world.writer.id,
        agent_id=agent,
        operation="sync",
        token=held.fencing_token,
    )
    row = conn.execute("SELECT count(*) FROM leases").fetchone()
    assert row == (0,)
