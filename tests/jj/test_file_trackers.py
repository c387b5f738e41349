"""db.jj.file_trackers: a working copy's tracked files, what a snapshot may skip, and blobs."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.jj import FileState, Workspace

from .conftest import EPOCH, World

Conn = psycopg.Connection[Any]


def _workspace(fdb: ForgeDB, world: World, repository_id: int | None = None) -> Workspace:
    return fdb.jj.create_workspace(
        repository_id or world.repo.id, actor_id=world.owner.id, name="default"
    )


def _at(seconds: int) -> Any:
    return EPOCH + timedelta(seconds=seconds)


def test_set_records_a_snapshots_files_and_counts_what_changed(fdb: ForgeDB, world: World) -> None:
    ws = _workspace(fdb, world)
    digest = fdb.jj.put_blob(world.repo.id, b"fn main() {}\n", actor_id=world.writer.id).hashes[0]
    files = [
        FileState(path="src/main.rs", size=13, mtime=_at(1), blob_hash=digest),
        FileState(path="run.sh", file_type="executable", size=3, mtime=_at(2)),
        FileState(path="link", file_type="symlink", size=4),
    ]
    trackers = fdb.jj.file_trackers
    assert trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=files) == 3
    assert trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=files) == 0
    touched = files[1].model_copy(update={"size": 4, "mtime": _at(3)})
    assert trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=[touched]) == 1
    assert (
        trackers.set(
            world.repo.id, ws.id, actor_id=world.writer.id, files=[], removed=["link", "absent"]
        )
        == 1
    )
    listed = trackers.list(world.repo.id, ws.id).items
    assert [(f.path, f.file_type, f.size, f.blob_hash) for f in listed] == [
        ("run.sh", "executable", 4, None),
        ("src/main.rs", "normal", 13, digest),
    ]
    assert listed[0].mtime == _at(3)


def test_changed_names_the_files_a_snapshot_must_read_in_the_order_given(
    fdb: ForgeDB, world: World
) -> None:
    ws = _workspace(fdb, world)
    tracked = [FileState(path=f"f{n}", size=n, mtime=_at(n)) for n in range(4)]
    tracked.append(FileState(path="no-mtime", size=1))
    fdb.jj.file_trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=tracked)
    now = [
        FileState(path="new", size=1, mtime=_at(9)),  # untracked
        tracked[0],  # unchanged
        tracked[1].model_copy(update={"size": 99}),  # resized
        tracked[2].model_copy(update={"mtime": _at(50)}),  # touched
        tracked[3].model_copy(update={"file_type": "executable"}),  # made executable
        tracked[4],  # unchanged, no mtime on either side
    ]
    assert fdb.jj.file_trackers.changed(world.repo.id, ws.id, now) == ["new", "f1", "f2", "f3"]
    assert fdb.jj.file_trackers.changed(world.repo.id, ws.id, []) == []


def test_set_refuses_what_does_not_fit_and_writes_nothing(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    ws = _workspace(fdb, world)
    trackers = fdb.jj.file_trackers
    twice = [FileState(path="a"), FileState(path="a", size=2)]
    with pytest.raises(InvalidInput) as refused:
        trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=twice)
    assert refused.value.field == "files"
    with pytest.raises(InvalidInput) as refused:
        trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=twice[:1], removed=["a"])
    assert refused.value.field == "removed"
    elsewhere = fdb.jj.put_blob(world.private.id, b"private", actor_id=world.owner.id).hashes[0]
    with pytest.raises(InvalidInput, match="not stored in the repository") as refused:
        trackers.set(
            world.repo.id,
            ws.id,
            actor_id=world.writer.id,
            files=[FileState(path="ok"), FileState(path="b", blob_hash=elsewhere)],
        )
    assert refused.value.field == "files"
    assert conn.execute("SELECT count(*) FROM file_trackers").fetchone() == (0,)


def test_an_archived_or_unknown_workspace_tracks_nothing(fdb: ForgeDB, world: World) -> None:
    ws = _workspace(fdb, world)
    fdb.jj.transition_workspace(world.repo.id, ws.id, actor_id=world.owner.id, state="archived")
    files = [FileState(path="a")]
    trackers = fdb.jj.file_trackers
    with pytest.raises(Conflict, match="archived"):
        trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=files)
    private_ws = _workspace(fdb, world, world.private.id)
    with pytest.raises(NotFound):  # the private workspace through the public repository
        trackers.set(world.repo.id, private_ws.id, actor_id=world.writer.id, files=files)
    with pytest.raises(NotFound):
        trackers.changed(world.repo.id, private_ws.id, files, viewer_id=world.reader.id)


def test_tracked_files_need_the_write_role_and_stay_private(fdb: ForgeDB, world: World) -> None:
    ws = _workspace(fdb, world, world.private.id)
    files = [FileState(path="secret/plan", size=1)]
    trackers = fdb.jj.file_trackers
    with pytest.raises(PermissionDenied):
        trackers.set(world.private.id, ws.id, actor_id=world.reader.id, files=files)
    with pytest.raises(NotFound):
        trackers.set(world.private.id, ws.id, actor_id=world.stranger.id, files=files)
    trackers.set(world.private.id, ws.id, actor_id=world.writer.id, files=files)
    for viewer in (world.stranger.id, None):
        assert trackers.list(world.private.id, ws.id, viewer_id=viewer).items == []
        with pytest.raises(NotFound):
            trackers.changed(world.private.id, ws.id, files, viewer_id=viewer)
    assert trackers.list(world.private.id, ws.id, viewer_id=world.reader.id).items
    assert trackers.changed(world.private.id, ws.id, files, viewer_id=world.reader.id) == []


def test_a_tracked_file_keeps_its_blob_from_garbage_collection(fdb: ForgeDB, world: World) -> None:
    ws = _workspace(fdb, world)
    digest = fdb.jj.put_blob(world.repo.id, b"tracked", actor_id=world.writer.id).hashes[0]
    files = [FileState(path="t", size=7, blob_hash=digest)]
    fdb.jj.file_trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=files)
    while fdb.jj.collect_garbage(min_age=timedelta(microseconds=1)).links_deleted:
        pass
    assert fdb.jj.get_blob(world.repo.id, digest).content == b"tracked"
    fdb.jj.file_trackers.set(
        world.repo.id, ws.id, actor_id=world.writer.id, files=[], removed=["t"]
    )
    while fdb.jj.collect_garbage(min_age=timedelta(microseconds=1)).links_deleted:
        pass
    with pytest.raises(NotFound):
        fdb.jj.get_blob(world.repo.id, digest)


def test_concurrent_snapshots_of_one_workspace_never_deadlock(
    db: ForgeDB, world: World, conn: Conn
) -> None:
    ws = _workspace(db, world)
    paths = [f"src/{n:03}" for n in range(200)]
    barrier = threading.Barrier(8)

    def snapshot(n: int) -> int:
        order = paths[:]
        random.Random(n).shuffle(order)  # each writer upserts the same rows in its own order
        files = [FileState(path=p, size=n) for p in order]
        barrier.wait()
        return db.jj.file_trackers.set(world.repo.id, ws.id, actor_id=world.writer.id, files=files)

    with ThreadPoolExecutor(8) as pool:
        changed = list(pool.map(snapshot, range(8)))
    assert all(0 <= c <= len(paths) for c in changed)
    sizes = conn.execute("SELECT DISTINCT size FROM file_trackers").fetchall()
    assert len(sizes) == 1  # one writer's snapshot, whole: the last to commit
    assert conn.execute("SELECT count(*) FROM file_trackers").fetchone() == (len(paths),)
