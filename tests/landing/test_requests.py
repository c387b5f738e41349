"""db.landing.requests: submit, read, list, cancel, rewrite, reprioritise, history."""

from __future__ import annotations

import pytest

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied

from .conftest import World, change_id, commit_id, submit


def test_submit_numbers_from_the_shared_sequence(fdb: ForgeDB, world: World) -> None:
    issue = fdb.issues.create(world.repo.id, actor_id=world.owner.id, title="first")
    request = submit(fdb, world.repo, world.writer, title="land me")
    assert (issue.number, request.number) == (1, 2)
    assert request.state == "queued"
    assert request.author == world.writer.username
    assert request.title == "land me"


def test_submitting_the_same_change_again_returns_the_active_request(
    fdb: ForgeDB, world: World
) -> None:
    change = change_id()
    first = submit(fdb, world.repo, world.writer, change=change)
    again = submit(fdb, world.repo, world.owner, change=change)
    other_bookmark = submit(fdb, world.repo, world.writer, change=change, bookmark="release")
    assert again.id == first.id
    assert again.number == first.number
    assert other_bookmark.id != first.id


def test_a_cancelled_change_can_be_submitted_anew(fdb: ForgeDB, world: World) -> None:
    change = change_id()
    first = submit(fdb, world.repo, world.writer, change=change)
    fdb.landing.cancel(world.repo.id, first.number, actor_id=world.writer.id, reason="oops")
    second = submit(fdb, world.repo, world.writer, change=change)
    assert second.number == first.number + 1


def test_submit_needs_write_access(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(PermissionDenied):
        submit(fdb, world.repo, world.reader)
    with pytest.raises(NotFound):
        submit(fdb, world.private, world.stranger)


def test_an_admin_only_bookmark_refuses_a_writer(fdb: ForgeDB, world: World) -> None:
    fdb.repositories.protection.set(
        world.repo.id, actor_id=world.owner.id, pattern="release/*", land_min_role="admin"
    )
    with pytest.raises(PermissionDenied):
        submit(fdb, world.repo, world.writer, bookmark="release/1")
    assert submit(fdb, world.repo, world.owner, bookmark="release/1").state == "queued"


def test_submit_refuses_bad_ids_naming_the_field(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(InvalidInput) as bad:
        fdb.landing.submit(
            world.repo.id,
            actor_id=world.writer.id,
            change_id="abc",
            commit_id=commit_id(),
            bookmark="main",
            title="t",
        )
    assert bad.value.field == "change_id"
    with pytest.raises(InvalidInput) as bad:
        submit(fdb, world.repo, world.writer, bookmark="bad..name")
    assert bad.value.field == "bookmark"


def test_get_and_list(fdb: ForgeDB, world: World) -> None:
    a = submit(fdb, world.repo, world.writer)
    b = submit(fdb, world.repo, world.owner, bookmark="dev")
    assert fdb.landing.get(world.repo.id, a.number).id == a.id
    assert [r.number for r in fdb.landing.list(world.repo.id).items] == [b.number, a.number]
    assert [r.number for r in fdb.landing.list(world.repo.id, bookmark="dev").items] == [b.number]
    mine = fdb.landing.list(world.repo.id, author_id=world.writer.id).items
    assert [r.number for r in mine] == [a.number]
    fdb.landing.cancel(world.repo.id, a.number, actor_id=world.owner.id)
    assert [r.number for r in fdb.landing.list(world.repo.id).items] == [b.number]
    cancelled = fdb.landing.list(world.repo.id, state="cancelled").items
    assert [r.number for r in cancelled] == [a.number]
    with pytest.raises(NotFound):
        fdb.landing.get(world.private.id, a.number, viewer_id=world.stranger.id)


def test_cancel_by_its_author_or_a_writer_only(fdb: ForgeDB, world: World) -> None:
    fdb.repositories.collaborators.set(
        world.repo.id, actor_id=world.owner.id, user_id=world.reader.id, role="write"
    )
    request = submit(fdb, world.repo, world.reader)
    fdb.repositories.collaborators.set(
        world.repo.id, actor_id=world.owner.id, user_id=world.reader.id, role="read"
    )
    other = submit(fdb, world.repo, world.writer)
    with pytest.raises(PermissionDenied):
        fdb.landing.cancel(world.repo.id, other.number, actor_id=world.reader.id)
    cancelled = fdb.landing.cancel(
        world.repo.id, request.number, actor_id=world.reader.id, reason="not needed"
    )
    assert (cancelled.state, cancelled.state_reason) == ("cancelled", "not needed")
    with pytest.raises(Conflict):
        fdb.landing.cancel(world.repo.id, request.number, actor_id=world.reader.id)


def test_a_running_request_cannot_be_cancelled_or_rewritten(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    assert fdb.landing.claim("w", 60, repository_id=world.repo.id) is not None
    with pytest.raises(Conflict):
        fdb.landing.cancel(world.repo.id, request.number, actor_id=world.writer.id)
    with pytest.raises(Conflict):
        fdb.landing.requests.update_commit(
            world.repo.id, request.number, actor_id=world.writer.id, commit_id=commit_id()
        )
    assert fdb.landing.get(world.repo.id, request.number).state == "running"


def test_history_records_every_transition_with_actor_and_reason(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    fdb.landing.requests.set_priority(
        world.repo.id, request.number, actor_id=world.owner.id, priority=5
    )
    fdb.landing.requests.update_commit(
        world.repo.id, request.number, actor_id=world.writer.id, commit_id=commit_id()
    )
    fdb.landing.cancel(world.repo.id, request.number, actor_id=world.owner.id, reason="dup")
    events = fdb.landing.history(world.repo.id, request.number)
    assert [(e.kind, e.actor, e.reason) for e in events] == [
        ("submitted", world.writer.username, ""),
        ("reprioritized", world.owner.username, ""),
        ("rewritten", world.writer.username, ""),
        ("cancelled", world.owner.username, "dup"),
    ]
    assert fdb.landing.get(world.repo.id, request.number).priority == 5


def test_history_is_append_only(fdb: ForgeDB, world: World, conn: object) -> None:
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    submit(fdb, world.repo, world.writer)
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("UPDATE landing_events SET reason = 'rewritten history'")
    assert refused.value.sqlstate == "FDC01"
