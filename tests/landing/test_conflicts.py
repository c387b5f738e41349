"""db.landing.conflicts: recorded per (commit, path, sides), resolved by later commits."""

from __future__ import annotations

import pytest

from forge_db import Conflict, ForgeDB, NotFound, PermissionDenied

from .conftest import World, change_id, commit_id, submit


def test_record_and_list_conflicts_of_a_change(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    first = request.commit_id or ""
    recorded = fdb.landing.record_conflicts(
        world.repo.id,
        actor_id=world.writer.id,
        change_id=request.change_id,
        commit_id=first,
        paths=["b.txt", "a.txt"],
        sides=3,
        landing_number=request.number,
    )
    assert [(c.path, c.sides, c.landing_number) for c in recorded] == [
        ("a.txt", 3, request.number),
        ("b.txt", 3, request.number),
    ]
    listed = fdb.landing.conflicts.list(world.repo.id, request.change_id)
    assert sorted(c.path for c in listed) == ["a.txt", "b.txt"]
    summary = fdb.landing.reviews.summary(world.repo.id, request.number)
    assert (summary.unresolved_conflicts, summary.ready) == (2, False)


def test_a_later_commit_resolves_the_paths_it_no_longer_conflicts_at(
    fdb: ForgeDB, world: World
) -> None:
    change = change_id()
    old, new = commit_id(), commit_id()
    conflicts = fdb.landing.conflicts
    conflicts.record(
        world.repo.id, actor_id=world.writer.id, change_id=change, commit_id=old, paths=["a", "b"]
    )
    conflicts.record(
        world.repo.id, actor_id=world.writer.id, change_id=change, commit_id=new, paths=["b"]
    )
    unresolved = conflicts.list(world.repo.id, change)
    assert sorted((c.commit_id, c.path) for c in unresolved) == sorted([(old, "b"), (new, "b")])
    every = conflicts.list(world.repo.id, change, unresolved_only=False)
    resolved_a = next(c for c in every if c.path == "a")
    assert resolved_a.resolved_commit_id == new


def test_resolve_needs_a_later_commit_and_write_access(fdb: ForgeDB, world: World) -> None:
    change, first = change_id(), commit_id()
    fdb.landing.record_conflicts(
        world.repo.id, actor_id=world.writer.id, change_id=change, commit_id=first, paths=["x"]
    )
    with pytest.raises(PermissionDenied):
        fdb.landing.resolve_conflict(
            world.repo.id,
            actor_id=world.reader.id,
            change_id=change,
            path="x",
            resolved_commit_id=commit_id(),
        )
    with pytest.raises(Conflict):
        fdb.landing.resolve_conflict(
            world.repo.id,
            actor_id=world.writer.id,
            change_id=change,
            path="x",
            resolved_commit_id=first,
        )
    later = commit_id()
    done = fdb.landing.resolve_conflict(
        world.repo.id,
        actor_id=world.writer.id,
        change_id=change,
        path="x",
        resolved_commit_id=later,
    )
    assert done.resolved_commit_id == later
    assert done.resolved_at is not None
    with pytest.raises(NotFound):
        fdb.landing.resolve_conflict(
            world.repo.id,
            actor_id=world.writer.id,
            change_id=change,
            path="x",
            resolved_commit_id=later,
        )


def test_conflicts_of_a_private_repository_are_hidden(fdb: ForgeDB, world: World) -> None:
    change = change_id()
    fdb.landing.record_conflicts(
        world.private.id,
        actor_id=world.writer.id,
        change_id=change,
        commit_id=commit_id(),
        paths=["secret"],
    )
    assert fdb.landing.conflicts.list(world.private.id, change, viewer_id=world.stranger.id) == []
    with pytest.raises(NotFound):
        fdb.landing.record_conflicts(
            world.private.id,
            actor_id=world.stranger.id,
            change_id=change,
            commit_id=commit_id(),
            paths=["x"],
        )
