"""db.jj.snapshots: a workspace's snapshot history, append-only by the database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, NotFound, PermissionDenied
from forge_db.jj import Snapshot, Workspace

from .conftest import World, commit_id, operation

Conn = psycopg.Connection[Any]


def _setup(fdb: ForgeDB, world: World, repository_id: int | None = None) -> tuple[Workspace, str]:
    repo = repository_id or world.repo.id
    op = operation(is_snapshot=True)
    fdb.jj.record_operations(repo, [op], actor_id=world.owner.id)
    ws = fdb.jj.create_workspace(repo, actor_id=world.owner.id, name="default")
    return ws, op.operation_id


def _record(fdb: ForgeDB, world: World, ws: Workspace, op: str, **fields: Any) -> Snapshot:
    return fdb.jj.snapshots.record(
        ws.repository_id,
        ws.id,
        actor_id=world.writer.id,
        operation_id=op,
        working_copy_commit_id=fields.pop("working_copy_commit_id", commit_id()),
        **fields,
    )


def test_snapshots_are_logged_and_read_newest_first(fdb: ForgeDB, world: World) -> None:
    ws, op = _setup(fdb, world)
    assert fdb.jj.snapshots.find_latest(world.repo.id, ws.id) is None
    first = _record(fdb, world, ws, op, files_changed=3, duration_ms=12)
    assert (first.workspace_id, first.operation_id, first.files_changed, first.duration_ms) == (
        ws.id,
        op,
        3,
        12,
    )
    later = [_record(fdb, world, ws, op) for _ in range(4)]
    assert fdb.jj.snapshots.find_latest(world.repo.id, ws.id) == later[-1]
    walked, cursor = [], None
    while True:
        page = fdb.jj.snapshots.list(world.repo.id, ws.id, limit=2, cursor=cursor)
        walked += page.items
        if (cursor := page.next_cursor) is None:
            break
    assert walked == [*reversed(later), first]


def test_a_snapshot_needs_a_stored_operation_and_a_live_workspace(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    ws, op = _setup(fdb, world)
    with pytest.raises(NotFound, match="jj_operations"):
        _record(fdb, world, ws, "e" * 128)
    private_ws, _ = _setup(fdb, world, world.private.id)
    with pytest.raises(NotFound):  # a private workspace through the public repository
        fdb.jj.snapshots.record(
            world.repo.id,
            private_ws.id,
            actor_id=world.writer.id,
            operation_id=op,
            working_copy_commit_id=commit_id(),
        )
    fdb.jj.transition_workspace(world.repo.id, ws.id, actor_id=world.owner.id, state="archived")
    with pytest.raises(Conflict, match="archived"):
        _record(fdb, world, ws, op)
    assert conn.execute("SELECT count(*) FROM snapshot_history").fetchone() == (0,)


def test_snapshots_need_the_write_role_and_stay_private(fdb: ForgeDB, world: World) -> None:
    ws, op = _setup(fdb, world, world.private.id)
    for actor, refusal in ((world.reader, PermissionDenied), (world.stranger, NotFound)):
        with pytest.raises(refusal):
            fdb.jj.snapshots.record(
                world.private.id,
                ws.id,
                actor_id=actor.id,
                operation_id=op,
                working_copy_commit_id=commit_id(),
            )
    _record(fdb, world, ws, op)
    for viewer in (world.stranger.id, None):
        assert fdb.jj.snapshots.list(world.private.id, ws.id, viewer_id=viewer).items == []
        assert fdb.jj.snapshots.find_latest(world.private.id, ws.id, viewer_id=viewer) is None
    assert fdb.jj.snapshots.find_latest(world.private.id, ws.id, viewer_id=world.reader.id)


def test_snapshot_history_is_append_only(fdb: ForgeDB, world: World, conn: Conn) -> None:
    ws, op = _setup(fdb, world)
    _record(fdb, world, ws, op)
    for statement in (
        "UPDATE snapshot_history SET files_changed = 9",
        "DELETE FROM snapshot_history",
        "TRUNCATE snapshot_history",
    ):
        with pytest.raises(psycopg.Error, match="append-only") as refused:
            conn.execute(statement)
        assert refused.value.sqlstate == "FDC01"
    assert conn.execute("SELECT count(*) FROM snapshot_history").fetchone() == (1,)


def test_the_log_goes_with_its_workspace_operation_or_repository_by_cascade(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    ws, op = _setup(fdb, world)
    _record(fdb, world, ws, op)
    conn.execute("DELETE FROM jj_workspaces WHERE id = %s", (ws.id,))
    other = fdb.jj.create_workspace(world.repo.id, actor_id=world.owner.id, name="other")
    _record(fdb, world, other, op)
    conn.execute("DELETE FROM jj_operations WHERE operation_id = %s", (op,))
    assert conn.execute("SELECT count(*) FROM snapshot_history").fetchone() == (0,)
    ws, op = _setup(fdb, world, world.private.id)
    _record(fdb, world, ws, op)
    fdb.repositories.delete(world.private.id, actor_id=world.owner.id)
    assert conn.execute("SELECT count(*) FROM snapshot_history").fetchone() == (0,)


def test_concurrent_snapshots_are_all_logged(db: ForgeDB, world: World, conn: Conn) -> None:
    ws, op = _setup(db, world)
    barrier = threading.Barrier(16)

    def snapshot(_: int) -> Snapshot:
        barrier.wait()
        return _record(db, world, ws, op)

    with ThreadPoolExecutor(16) as pool:
        logged = list(pool.map(snapshot, range(16)))
    listed = db.jj.snapshots.list(world.repo.id, ws.id, limit=100).items
    assert sorted(s.id for s in listed) == sorted(s.id for s in logged)
    assert len({s.id for s in listed}) == 16
