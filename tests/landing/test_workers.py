"""db.landing.workers: claims, leases and takeovers, outcomes, bisection, timeouts, readiness."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from support import make_repository, make_user

from forge_db import Conflict, ForgeDB, InvalidInput
from forge_db.landing import LandingClaim

from .conftest import World, change_id, commit_id, submit


def _claim(fdb: ForgeDB, world: World, **options: Any) -> LandingClaim:
    claim = fdb.landing.claim("worker-a", 60, repository_id=world.repo.id, **options)
    assert claim is not None
    return claim


def test_a_claim_takes_the_head_of_the_queue_with_a_lease_and_a_token(
    fdb: ForgeDB, world: World
) -> None:
    request = submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    assert claim.claimed_by == "worker-a"
    assert claim.taken_over is False
    assert [r.number for r in claim.requests] == [request.number]
    assert claim.requests[0].change_id == request.change_id
    running = fdb.landing.get(world.repo.id, request.number)
    assert (running.state, running.batch_id, running.attempts) == ("running", claim.batch_id, 1)
    assert fdb.landing.claim("worker-b", 60) is None  # one batch per bookmark at a time


def test_nothing_to_claim_is_none(fdb: ForgeDB, world: World) -> None:
    assert fdb.landing.claim("w", 60) is None


def test_finish_lands_and_frees_the_bookmark(fdb: ForgeDB, world: World) -> None:
    a, b = submit(fdb, world.repo, world.writer), submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    landed = commit_id()
    outcomes = fdb.landing.finish(
        claim.batch_id, token=claim.fencing_token, landed_commit_id=landed
    )
    assert [(o.number, o.outcome) for o in outcomes] == [(a.number, "landed")]
    done = fdb.landing.get(world.repo.id, a.number)
    assert (done.state, done.landed_commit_id, done.claimed_by) == ("landed", landed, None)
    assert [r.number for r in _claim(fdb, world).requests] == [b.number]


def test_a_batch_takes_ready_requests_in_order_and_never_batch_runs_alone(
    fdb: ForgeDB, world: World
) -> None:
    a = submit(fdb, world.repo, world.writer)
    alone = submit(fdb, world.repo, world.writer, never_batch=True)
    c = submit(fdb, world.repo, world.writer)
    d = submit(fdb, world.repo, world.writer)
    first = _claim(fdb, world, batch_size=3)
    assert [r.number for r in first.requests] == [a.number, c.number, d.number]
    fdb.landing.finish(first.batch_id, token=first.fencing_token, landed_commit_id=commit_id())
    second = _claim(fdb, world, batch_size=3)
    assert [r.number for r in second.requests] == [alone.number]


def test_renew_extends_the_lease_and_keeps_the_token(fdb: ForgeDB, world: World) -> None:
    submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    renewed = fdb.landing.renew(claim.batch_id, token=claim.fencing_token, lease_seconds=600)
    assert renewed.fencing_token == claim.fencing_token
    assert renewed.lease_expires_at > claim.lease_expires_at


def _expire(conn: psycopg.Connection[Any], batch_id: int) -> None:
    conn.execute(
        "UPDATE landing_batches SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
        (batch_id,),
    )


def test_an_expired_lease_is_taken_over_and_the_stale_token_refused(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    request = submit(fdb, world.repo, world.writer)
    first = _claim(fdb, world)
    _expire(conn, first.batch_id)
    second = fdb.landing.claim("worker-b", 60)
    assert second is not None
    assert second.taken_over
    assert second.batch_id == first.batch_id
    assert second.fencing_token > first.fencing_token
    before = fdb.landing.get(world.repo.id, request.number)
    for stale in (
        lambda: fdb.landing.finish(
            first.batch_id, token=first.fencing_token, landed_commit_id=commit_id()
        ),
        lambda: fdb.landing.renew(first.batch_id, token=first.fencing_token, lease_seconds=60),
        lambda: fdb.landing.requeue(first.batch_id, token=first.fencing_token),
    ):
        with pytest.raises(Conflict):
            stale()
    after = fdb.landing.get(world.repo.id, request.number)
    assert after == before
    assert after.claimed_by == "worker-b"
    fdb.landing.finish(second.batch_id, token=second.fencing_token, landed_commit_id=commit_id())
    kinds = [e.kind for e in fdb.landing.history(world.repo.id, request.number)]
    assert kinds == ["submitted", "claimed", "taken_over", "landed"]


def test_a_failure_without_retry_fails_and_says_why(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    outcomes = fdb.landing.finish(claim.batch_id, token=claim.fencing_token, error="tests broke")
    assert [o.outcome for o in outcomes] == ["failed"]
    failed = fdb.landing.get(world.repo.id, request.number)
    assert (failed.state, failed.last_error) == ("failed", "tests broke")
    assert fdb.landing.history(world.repo.id, request.number)[-1].reason == "tests broke"


def test_retries_stop_at_max_attempts(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer, max_attempts=2)
    outcomes = []
    for _ in range(2):
        claim = _claim(fdb, world)
        done = fdb.landing.finish(claim.batch_id, token=claim.fencing_token, error="e", retry=True)
        outcomes += [o.outcome for o in done]
    assert outcomes == ["requeued", "failed"]
    final = fdb.landing.get(world.repo.id, request.number)
    assert (final.state, final.attempts, final.state_reason) == ("failed", 2, "max_attempts")
    assert fdb.landing.claim("w", 60) is None


def test_requeue_gives_the_batch_back_untried(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    done = fdb.landing.requeue(claim.batch_id, token=claim.fencing_token, reason="shutting down")
    assert [o.outcome for o in done] == ["requeued"]
    back = fdb.landing.get(world.repo.id, request.number)
    assert (back.state, back.attempts, back.state_reason) == ("queued", 0, "shutting down")


def test_finish_needs_exactly_one_outcome(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput):
        fdb.landing.finish(1, token=1)
    with pytest.raises(InvalidInput):
        fdb.landing.finish(1, token=1, landed_commit_id=commit_id(), error="x")


def test_bisection_isolates_one_bad_request_among_eight_in_four_rounds(
    fdb: ForgeDB, world: World
) -> None:
    made = [submit(fdb, world.repo, world.writer) for _ in range(8)]
    bad = made[5].number
    rounds_with_bad = 0
    landed: list[int] = []
    for _ in range(20):
        claim = fdb.landing.claim("w", 60, repository_id=world.repo.id, batch_size=8)
        if claim is None:
            break
        numbers = [r.number for r in claim.requests]
        if bad in numbers:
            rounds_with_bad += 1
            fdb.landing.finish(claim.batch_id, token=claim.fencing_token, error=f"#{bad} broke")
        else:
            fdb.landing.finish(
                claim.batch_id, token=claim.fencing_token, landed_commit_id=commit_id()
            )
            landed += numbers
    assert rounds_with_bad <= 4
    assert fdb.landing.get(world.repo.id, bad).state == "failed"
    assert sorted(landed) == sorted(r.number for r in made if r.number != bad)
    # The lineage: the bad request's batches, each the half of the one before.
    events = [e for e in fdb.landing.history(world.repo.id, bad) if e.kind == "bisected"]
    assert [e.batch_depth for e in events] == [1, 2, 3]
    parents = [e.parent_batch_id for e in events]
    assert parents[1:] == [e.batch_id for e in events[:-1]]


def test_bisected_halves_keep_their_attempts(fdb: ForgeDB, world: World) -> None:
    a, b = (submit(fdb, world.repo, world.writer, max_attempts=1) for _ in range(2))
    claim = _claim(fdb, world, batch_size=2)
    outcomes = fdb.landing.finish(claim.batch_id, token=claim.fencing_token, error="one is bad")
    assert [o.outcome for o in outcomes] == ["bisected", "bisected"]
    half = _claim(fdb, world, batch_size=2)
    assert [r.number for r in half.requests] == [a.number]
    assert half.parent_id == claim.batch_id
    assert fdb.landing.get(world.repo.id, b.number).attempts == 0


def test_a_run_past_its_deadline_is_requeued_by_the_sweep(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    request = submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world, timeout_seconds=3600)
    conn.execute(
        "UPDATE landing_batches SET deadline_at = now() - interval '1 second' WHERE id = %s",
        (claim.batch_id,),
    )
    assert fdb.landing.workers.sweep() == 1
    back = fdb.landing.get(world.repo.id, request.number)
    assert (back.state, back.state_reason, back.last_error) == ("queued", "timeout", "timeout")
    with pytest.raises(Conflict):
        fdb.landing.finish(claim.batch_id, token=claim.fencing_token, landed_commit_id=commit_id())


def test_the_claim_itself_times_out_a_run_past_its_deadline(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    request = submit(fdb, world.repo, world.writer, max_attempts=1)
    following = submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    conn.execute(
        "UPDATE landing_batches SET deadline_at = now() - interval '1 second' WHERE id = %s",
        (claim.batch_id,),
    )
    next_claim = _claim(fdb, world)
    assert [r.number for r in next_claim.requests] == [following.number]
    timed_out = fdb.landing.get(world.repo.id, request.number)
    assert (timed_out.state, timed_out.state_reason) == ("failed", "timeout")


def test_only_ready_requests_are_claimed(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    fdb.repositories.protection.set(
        world.repo.id,
        actor_id=world.owner.id,
        pattern="main",
        required_approvals=1,
        required_status_contexts=["ci"],
    )
    request = submit(fdb, world.repo, world.writer)
    assert fdb.landing.claim("w", 60) is None
    fdb.landing.reviews.review(
        world.repo.id, request.number, actor_id=world.owner.id, state="approved"
    )
    assert fdb.landing.claim("w", 60) is None  # ci has not passed
    conn.execute(
        "INSERT INTO commit_statuses (repository_id, commit_id, context, state)"
        " VALUES (%s, %s, 'ci', 'failure')",
        (world.repo.id, request.commit_id),
    )
    assert fdb.landing.claim("w", 60) is None
    conn.execute(
        "UPDATE commit_statuses SET state = 'success' WHERE repository_id = %s",
        (world.repo.id,),
    )
    claim = fdb.landing.claim("w", 60)
    assert claim is not None
    assert claim.requests[0].number == request.number


def test_an_unresolved_conflict_keeps_a_change_from_landing(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    fdb.landing.record_conflicts(
        world.repo.id,
        actor_id=world.writer.id,
        change_id=request.change_id,
        commit_id=request.commit_id or "",
        paths=["src/lib.rs"],
    )
    assert fdb.landing.claim("w", 60) is None
    assert not fdb.landing.queue(world.repo.id, "main").items[0].ready
    fdb.landing.resolve_conflict(
        world.repo.id,
        actor_id=world.writer.id,
        change_id=request.change_id,
        path="src/lib.rs",
        resolved_commit_id=commit_id(),
    )
    assert fdb.landing.claim("w", 60) is not None


def test_the_database_refuses_a_second_running_batch_on_a_bookmark(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    submit(fdb, world.repo, world.writer)
    _claim(fdb, world)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            """
            INSERT INTO landing_batches (repository_id, target_bookmark, size, state, claimed_by,
                                         claimed_at, lease_expires_at, fencing_token, deadline_at)
            VALUES (%s, 'main', 1, 'running', 'rogue', now(), now(), 1, now())
            """,
            (world.repo.id,),
        )


def test_authors_hear_that_their_requests_landed_or_failed(fdb: ForgeDB, world: World) -> None:
    landed = submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    fdb.landing.finish(claim.batch_id, token=claim.fencing_token, landed_commit_id=commit_id())
    broken = submit(fdb, world.repo, world.writer)
    claim = _claim(fdb, world)
    fdb.landing.finish(claim.batch_id, token=claim.fencing_token, error="broken")
    notes = fdb.collaboration.notifications.list(viewer_id=world.writer.id).items
    assert [(n.landing_number, n.reason, n.actor) for n in notes] == [
        (broken.number, "landing", None),
        (landed.number, "landing", None),
    ]


def test_a_claim_skips_a_bookmark_another_claim_is_taking(db: ForgeDB) -> None:
    # The first claim's transaction stays open, holding the queue of alpha (the queue a claim
    # tries first); the second claim must pass it by (SKIP LOCKED) and take beta, not wait.
    # The lock timeout turns a wait into an error: a blocking claim fails instead of hanging.
    owner = make_user(db)
    repo = make_repository(db, owner)
    db.landing.submit(
        repo.id,
        actor_id=owner.id,
        change_id=change_id(),
        commit_id=commit_id(),
        bookmark="alpha",
        title="alpha change",
    )
    beta = db.landing.submit(
        repo.id,
        actor_id=owner.id,
        change_id=change_id(),
        commit_id=commit_id(),
        bookmark="beta",
        title="beta change",
    )
    with db.transaction() as first:
        taken = first.landing.claim("a", 60, repository_id=repo.id, bookmark="alpha")
        assert taken is not None
        with db.transaction() as second:
            second.connection.execute("SET LOCAL lock_timeout = '10s'")
            other = second.landing.claim("b", 60, repository_id=repo.id)
    assert other is not None
    assert other.requests[0].number == beta.number
