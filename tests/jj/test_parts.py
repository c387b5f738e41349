"""db.jj.parts: the paths a commit touches, recorded once, listed, and a path's history."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pydantic
import pytest

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.jj import PartRecord

from .conftest import World, commit

Conn = psycopg.Connection[Any]


def _blob(fdb: ForgeDB, world: World, content: bytes, repository_id: int | None = None) -> str:
    repo = repository_id or world.repo.id
    actor = world.owner.id
    return fdb.jj.put_blob(repo, content, actor_id=actor).hashes[0]


def test_parts_are_recorded_once_and_listed_by_path(fdb: ForgeDB, world: World) -> None:
    c = commit()
    fdb.jj.record_commits(world.repo.id, [c], actor_id=world.writer.id)
    old, new = _blob(fdb, world, b"old\n"), _blob(fdb, world, b"new\n")
    parts = [
        PartRecord(commit_id=c.commit_id, path="src/b.rs", status="modified",
                   old_blob_hash=old, new_blob_hash=new, additions=1, deletions=1),
        PartRecord(commit_id=c.commit_id, path="a.txt", status="added", new_blob_hash=new,
                   additions=1),
        PartRecord(commit_id=c.commit_id, path="gone", status="deleted", old_blob_hash=old),
        PartRecord(commit_id=c.commit_id, path="moved", status="renamed", old_path="was",
                   old_blob_hash=old, new_blob_hash=old),
    ]  # fmt: skip
    assert fdb.jj.parts.record(world.repo.id, parts, actor_id=world.writer.id) == 4
    assert fdb.jj.parts.record(world.repo.id, parts, actor_id=world.writer.id) == 0
    listed = fdb.jj.parts.list(world.repo.id, c.commit_id).items
    assert [p.path for p in listed] == ["a.txt", "gone", "moved", "src/b.rs"]
    modified = listed[3]
    assert (modified.status, modified.old_blob_hash, modified.new_blob_hash) == (
        "modified",
        old,
        new,
    )
    assert (modified.additions, modified.deletions, modified.change_id) == (1, 1, c.change_id)
    assert (listed[2].old_path, listed[1].new_blob_hash) == ("was", None)


def test_an_unknown_commit_is_not_found_and_nothing_is_written(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    c = commit()
    fdb.jj.record_commits(world.repo.id, [c], actor_id=world.writer.id)
    parts = [
        PartRecord(commit_id=c.commit_id, path="ok", status="added"),
        PartRecord(commit_id="f" * 40, path="lost", status="added"),
    ]
    with pytest.raises(NotFound, match=r"parts\[1\]: commit f{40} not found"):
        fdb.jj.parts.record(world.repo.id, parts, actor_id=world.writer.id)
    assert conn.execute("SELECT count(*) FROM parts").fetchone() == (0,)


def test_a_part_cannot_name_a_blob_its_repository_does_not_hold(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    c = commit()
    fdb.jj.record_commits(world.repo.id, [c], actor_id=world.writer.id)
    elsewhere = _blob(fdb, world, b"private bytes", world.private.id)
    part = PartRecord(commit_id=c.commit_id, path="x", status="added", new_blob_hash=elsewhere)
    with pytest.raises(InvalidInput, match="not stored in the repository") as refused:
        fdb.jj.parts.record(world.repo.id, [part], actor_id=world.writer.id)
    assert refused.value.field == "parts"
    assert conn.execute("SELECT count(*) FROM parts").fetchone() == (0,)


def test_part_records_keep_the_status_rules_and_so_does_the_table(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    with pytest.raises(pydantic.ValidationError, match="old_path"):
        PartRecord(commit_id="a" * 40, path="x", status="renamed")
    with pytest.raises(pydantic.ValidationError, match="old_path"):
        PartRecord(commit_id="a" * 40, path="x", status="added", old_path="y")
    with pytest.raises(pydantic.ValidationError, match="old_blob_hash"):
        PartRecord(commit_id="a" * 40, path="x", status="added", old_blob_hash="0" * 64)
    with pytest.raises(pydantic.ValidationError, match="new_blob_hash"):
        PartRecord(commit_id="a" * 40, path="x", status="deleted", new_blob_hash="0" * 64)
    with pytest.raises(pydantic.ValidationError):
        PartRecord(commit_id="a" * 40, path="bad\tpath", status="added")
    c = commit()
    fdb.jj.record_commits(world.repo.id, [c], actor_id=world.writer.id)
    digest = _blob(fdb, world, b"content")
    with pytest.raises(psycopg.errors.CheckViolation, match="parts_blobs_status_check"):
        conn.execute(
            "INSERT INTO parts (repository_id, change_row_id, path, status, old_blob_hash) "
            "SELECT repository_id, id, 'x', 'added', decode(%s, 'hex') FROM changes",
            (digest,),
        )


def test_parts_are_append_only(fdb: ForgeDB, world: World, conn: Conn) -> None:
    c = commit()
    fdb.jj.record_commits(world.repo.id, [c], actor_id=world.writer.id)
    part = PartRecord(commit_id=c.commit_id, path="x", status="added")
    fdb.jj.parts.record(world.repo.id, [part], actor_id=world.writer.id)
    with pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("UPDATE parts SET additions = 5")


def test_history_of_a_path_walks_visible_commits_newest_first(fdb: ForgeDB, world: World) -> None:
    first, second, third = commit(at=1), commit(at=2), commit(at=3)
    rewritten = commit(second.change_id, at=4, predecessors=[second.commit_id])
    commits = [first, second, third, rewritten]
    fdb.jj.record_commits(world.repo.id, commits, actor_id=world.writer.id)
    parts = [
        PartRecord(commit_id=c.commit_id, path="src/lib.rs", status="modified") for c in commits
    ]
    parts.append(PartRecord(commit_id=third.commit_id, path="other", status="added"))
    fdb.jj.parts.record(world.repo.id, parts, actor_id=world.writer.id)
    walked, cursor = [], None
    while True:
        page = fdb.jj.parts.history(world.repo.id, "src/lib.rs", limit=1, cursor=cursor)
        walked += [p.commit_id for p in page.items]
        if (cursor := page.next_cursor) is None:
            break
    # The rewritten commit is hidden: its successor stands for it.
    assert walked == [rewritten.commit_id, third.commit_id, first.commit_id]


def test_parts_need_the_write_role_and_stay_private(fdb: ForgeDB, world: World) -> None:
    c = commit()
    fdb.jj.record_commits(world.private.id, [c], actor_id=world.owner.id)
    part = PartRecord(commit_id=c.commit_id, path="plan", status="added")
    with pytest.raises(PermissionDenied):
        fdb.jj.parts.record(world.private.id, [part], actor_id=world.reader.id)
    with pytest.raises(NotFound):
        fdb.jj.parts.record(world.private.id, [part], actor_id=world.stranger.id)
    fdb.jj.parts.record(world.private.id, [part], actor_id=world.writer.id)
    for viewer in (world.stranger.id, None):
        assert fdb.jj.parts.list(world.private.id, c.commit_id, viewer_id=viewer).items == []
        assert fdb.jj.parts.history(world.private.id, "plan", viewer_id=viewer).items == []
    assert fdb.jj.parts.list(world.private.id, c.commit_id, viewer_id=world.reader.id).items


def test_a_part_keeps_its_blobs_from_garbage_collection(fdb: ForgeDB, world: World) -> None:
    c = commit()
    fdb.jj.record_commits(world.repo.id, [c], actor_id=world.writer.id)
    kept, dropped = _blob(fdb, world, b"kept"), _blob(fdb, world, b"dropped")
    part = PartRecord(commit_id=c.commit_id, path="f", status="added", new_blob_hash=kept)
    fdb.jj.parts.record(world.repo.id, [part], actor_id=world.writer.id)
    while fdb.jj.collect_garbage(min_age=timedelta(microseconds=1)).links_deleted:
        pass
    assert fdb.jj.get_blob(world.repo.id, kept).content == b"kept"
    with pytest.raises(NotFound):
        fdb.jj.get_blob(world.repo.id, dropped)


def test_concurrent_recordings_of_the_same_parts_store_each_once(
    db: ForgeDB, world: World, conn: Conn
) -> None:
    commits = [commit() for _ in range(4)]
    db.jj.record_commits(world.repo.id, commits, actor_id=world.writer.id)
    parts = [
        PartRecord(commit_id=c.commit_id, path=f"dir/{n}", status="added")
        for c in commits
        for n in range(50)
    ]
    barrier = threading.Barrier(8)

    def record(n: int) -> int:
        barrier.wait()
        batch = parts[::-1] if n % 2 else parts  # opposite orders: the insert sorts them
        return db.jj.parts.record(world.repo.id, batch, actor_id=world.writer.id)

    with ThreadPoolExecutor(8) as pool:
        recorded = list(pool.map(record, range(8)))
    assert sum(recorded) == len(parts)
    assert conn.execute("SELECT count(*) FROM parts").fetchone() == (len(parts),)
