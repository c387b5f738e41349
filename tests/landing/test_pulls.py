"""db.landing.pulls: open, read, list, update the head, drafts, merge, close, reopen."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from forge_db import Conflict, ForgeDB, NotFound, PermissionDenied
from forge_db.landing import PullRequest

from .conftest import World, commit_id, submit


def _open(fdb: ForgeDB, world: World, **options: object) -> PullRequest:
    return fdb.landing.pulls.open(
        world.repo.id,
        actor_id=world.reader.id,
        title="a fix",
        head_ref="fix",
        base_ref=str(options.pop("base_ref", "main")),
        head_commit_id=commit_id(),
        **options,  # type: ignore[arg-type]
    )


def test_open_takes_a_number_from_the_shared_sequence(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    pull = _open(fdb, world)
    assert pull.number == request.number + 1
    assert (pull.state, pull.author, pull.draft) == ("open", world.reader.username, False)
    assert fdb.landing.pulls.get(world.repo.id, pull.number).id == pull.id


def test_merge_records_the_commit_and_who_merged_and_is_final(fdb: ForgeDB, world: World) -> None:
    pull = _open(fdb, world)
    with pytest.raises(PermissionDenied):
        fdb.landing.pulls.merge(
            world.repo.id, pull.number, actor_id=world.reader.id, merge_commit_id=commit_id()
        )
    merge = commit_id()
    merged = fdb.landing.pulls.merge(
        world.repo.id, pull.number, actor_id=world.writer.id, merge_commit_id=merge
    )
    assert (merged.state, merged.merge_commit_id, merged.merged_by) == (
        "merged",
        merge,
        world.writer.username,
    )
    assert merged.merged_at is not None
    assert merged.closed_at is not None
    finals: list[Callable[[], object]] = [
        lambda: fdb.landing.pulls.close(world.repo.id, pull.number, actor_id=world.writer.id),
        lambda: fdb.landing.pulls.reopen(world.repo.id, pull.number, actor_id=world.writer.id),
        lambda: fdb.landing.pulls.merge(
            world.repo.id, pull.number, actor_id=world.writer.id, merge_commit_id=commit_id()
        ),
    ]
    for final in finals:
        with pytest.raises(Conflict):
            final()


def test_a_draft_cannot_be_merged_until_ready(fdb: ForgeDB, world: World) -> None:
    pull = _open(fdb, world, draft=True)
    with pytest.raises(Conflict):
        fdb.landing.pulls.merge(
            world.repo.id, pull.number, actor_id=world.writer.id, merge_commit_id=commit_id()
        )
    ready = fdb.landing.pulls.set_draft(
        world.repo.id, pull.number, actor_id=world.reader.id, draft=False
    )
    assert not ready.draft
    fdb.landing.pulls.merge(
        world.repo.id, pull.number, actor_id=world.writer.id, merge_commit_id=commit_id()
    )


def test_close_and_reopen_by_the_author(fdb: ForgeDB, world: World) -> None:
    pull = _open(fdb, world)
    with pytest.raises(PermissionDenied):
        fdb.landing.pulls.close(world.repo.id, pull.number, actor_id=world.stranger.id)
    closed = fdb.landing.pulls.close(world.repo.id, pull.number, actor_id=world.reader.id)
    assert closed.state == "closed"
    assert closed.closed_at is not None
    reopened = fdb.landing.pulls.reopen(world.repo.id, pull.number, actor_id=world.reader.id)
    assert reopened.state == "open"
    assert reopened.closed_at is None


def test_update_head_makes_approvals_stale(fdb: ForgeDB, world: World) -> None:
    fdb.repositories.protection.set(
        world.repo.id, actor_id=world.owner.id, pattern="main", required_approvals=1
    )
    pull = _open(fdb, world)
    fdb.landing.review(
        world.repo.id, pull.number, actor_id=world.writer.id, state="approved", kind="pull"
    )
    assert fdb.landing.pulls.mergeability(world.repo.id, pull.number).ready
    head = commit_id()
    updated = fdb.landing.pulls.update_head(
        world.repo.id, pull.number, actor_id=world.reader.id, commit_id=head
    )
    assert updated.head_commit_id == head
    summary = fdb.landing.pulls.mergeability(world.repo.id, pull.number)
    assert (summary.approvals, summary.stale_approvals, summary.ready) == (0, 1, False)


def test_list_filters_and_pages(fdb: ForgeDB, world: World) -> None:
    made = [_open(fdb, world) for _ in range(3)]
    release = _open(fdb, world, base_ref="release")
    draft = _open(fdb, world, draft=True)
    fdb.landing.pulls.close(world.repo.id, made[0].number, actor_id=world.reader.id)
    pulls = fdb.landing.pulls
    assert [p.number for p in pulls.list(world.repo.id).items] == [
        draft.number,
        release.number,
        made[2].number,
        made[1].number,
    ]
    assert [p.number for p in pulls.list(world.repo.id, base_ref="release").items] == [
        release.number
    ]
    assert [p.number for p in pulls.list(world.repo.id, draft=True).items] == [draft.number]
    assert [p.number for p in pulls.list(world.repo.id, state="closed").items] == [made[0].number]
    first = pulls.list(world.repo.id, state="all", limit=2)
    second = pulls.list(world.repo.id, state="all", limit=2, cursor=first.next_cursor)
    assert [p.number for p in first.items + second.items] == [
        draft.number,
        release.number,
        made[2].number,
        made[1].number,
    ]


def test_a_private_pull_request_is_not_found_for_a_stranger(fdb: ForgeDB, world: World) -> None:
    pull = fdb.landing.pulls.open(
        world.private.id,
        actor_id=world.reader.id,
        title="secret",
        head_ref="f",
        base_ref="main",
        head_commit_id=commit_id(),
    )
    with pytest.raises(NotFound):
        fdb.landing.pulls.get(world.private.id, pull.number, viewer_id=world.stranger.id)
    assert fdb.landing.pulls.list(world.private.id, viewer_id=None).items == []
