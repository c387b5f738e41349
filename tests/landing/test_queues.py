"""db.landing.queues: the order of a bookmark's queue, pausing, draining, resuming."""

from __future__ import annotations

import pytest

from forge_db import Conflict, ForgeDB, NotFound, PermissionDenied

from .conftest import World, commit_id, submit


def test_the_queue_is_in_priority_then_submission_order_with_positions(
    fdb: ForgeDB, world: World
) -> None:
    low = submit(fdb, world.repo, world.writer, priority=-1)
    first = submit(fdb, world.repo, world.writer)
    urgent = submit(fdb, world.repo, world.writer, priority=10)
    second = submit(fdb, world.repo, world.writer)
    submit(fdb, world.repo, world.writer, bookmark="elsewhere")
    entries = fdb.landing.queue(world.repo.id, "main").items
    assert [(e.number, e.position) for e in entries] == [
        (urgent.number, 1),
        (first.number, 2),
        (second.number, 3),
        (low.number, 4),
    ]
    assert all(e.ready for e in entries)


def test_queue_pages_keep_positions(fdb: ForgeDB, world: World) -> None:
    made = [submit(fdb, world.repo, world.writer, priority=n % 3) for n in range(7)]
    seen = []
    cursor = None
    while True:
        page = fdb.landing.queue(world.repo.id, "main", limit=3, cursor=cursor)
        seen += [(e.number, e.position) for e in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    whole = fdb.landing.queue(world.repo.id, "main").items
    assert seen == [(e.number, e.position) for e in whole]
    assert [p for _, p in seen] == list(range(1, len(made) + 1))


def test_a_retry_keeps_its_place(fdb: ForgeDB, world: World) -> None:
    first = submit(fdb, world.repo, world.writer, priority=3)
    second = submit(fdb, world.repo, world.writer, priority=3)
    claim = fdb.landing.claim("w", 60, repository_id=world.repo.id)
    assert claim is not None
    assert [r.number for r in claim.requests] == [first.number]
    fdb.landing.finish(claim.batch_id, token=claim.fencing_token, error="flaky", retry=True)
    entries = fdb.landing.queue(world.repo.id, "main").items
    assert [(e.number, e.position) for e in entries] == [(first.number, 1), (second.number, 2)]
    assert entries[0].priority == 3
    assert entries[0].attempts == 1
    again = fdb.landing.claim("w", 60, repository_id=world.repo.id)
    assert again is not None
    assert [r.number for r in again.requests] == [first.number]


def test_pause_refuses_claims_until_resumed(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    paused = fdb.landing.pause(
        world.repo.id, "main", actor_id=world.writer.id, reason="release freeze"
    )
    assert (paused.state, paused.reason, paused.changed_by) == (
        "paused",
        "release freeze",
        world.writer.username,
    )
    assert fdb.landing.claim("w", 60) is None
    submit(fdb, world.repo, world.writer)  # entries still join and wait
    assert fdb.landing.queues.get(world.repo.id, "main").queued == 2
    fdb.landing.resume(world.repo.id, "main", actor_id=world.owner.id, reason="shipped")
    claim = fdb.landing.claim("w", 60)
    assert claim is not None
    assert claim.requests[0].number == request.number


def test_draining_refuses_submits_and_lets_the_present_finish(fdb: ForgeDB, world: World) -> None:
    present = submit(fdb, world.repo, world.writer)
    fdb.landing.queues.drain(world.repo.id, "main", actor_id=world.writer.id, reason="moving")
    with pytest.raises(Conflict):
        submit(fdb, world.repo, world.writer)
    submit(fdb, world.repo, world.writer, bookmark="other")  # other queues are open
    claim = fdb.landing.claim("w", 60, repository_id=world.repo.id, bookmark="main")
    assert claim is not None
    assert claim.requests[0].number == present.number
    fdb.landing.finish(claim.batch_id, token=claim.fencing_token, landed_commit_id=commit_id())
    assert fdb.landing.get(world.repo.id, present.number).state == "landed"


def test_pause_and_resume_are_logged_with_actor_and_reason(
    fdb: ForgeDB, world: World, conn: object
) -> None:
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    fdb.landing.pause(world.repo.id, "main", actor_id=world.writer.id, reason="freeze")
    fdb.landing.pause(world.repo.id, "main", actor_id=world.writer.id, reason="still")
    fdb.landing.resume(world.repo.id, "main", actor_id=world.owner.id, reason="thaw")
    rows = conn.execute(
        "SELECT kind, actor_id, reason FROM landing_events WHERE repository_id = %s ORDER BY id",
        (world.repo.id,),
    ).fetchall()
    assert rows == [("paused", world.writer.id, "freeze"), ("resumed", world.owner.id, "thaw")]


def test_pausing_needs_write_and_hides_private_queues(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(PermissionDenied):
        fdb.landing.pause(world.repo.id, "main", actor_id=world.reader.id)
    with pytest.raises(NotFound):
        fdb.landing.pause(world.private.id, "main", actor_id=world.stranger.id)
    with pytest.raises(NotFound):
        fdb.landing.queues.get(world.private.id, "main", viewer_id=world.stranger.id)
    assert fdb.landing.queue(world.private.id, "main", viewer_id=world.stranger.id).items == []


def test_an_unused_bookmark_has_an_open_empty_queue(fdb: ForgeDB, world: World) -> None:
    queue = fdb.landing.queues.get(world.repo.id, "never-used")
    assert (queue.state, queue.queued, queue.running_batch_id) == ("open", 0, None)
