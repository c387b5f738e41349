"""db.workflows.runners: registration, heartbeats, claims with fencing tokens, retries, reaping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from forge_db import AlreadyExists, AuthenticationFailed, Conflict, ForgeDB

from .conftest import DAG, World, claim, due, expire, finish, runner, silence


def _start(fdb: ForgeDB, world: World, steps: list[dict[str, Any]]) -> Any:
    return fdb.workflows.start_run(world.repo.id, actor_id=world.writer.id, steps=steps)


def test_a_step_never_runs_before_its_dependencies_succeeded(fdb: ForgeDB, world: World) -> None:
    run = _start(fdb, world, DAG)
    r = runner(fdb, capacity=10)
    first = fdb.workflows.runners.claim_many(r.runner.id, runner_token=r.token, limit=10)
    assert [s.name for s in first] == ["checkout"]
    finish(fdb, r, first[0])
    second = fdb.workflows.runners.claim_many(r.runner.id, runner_token=r.token, limit=10)
    assert sorted(s.name for s in second) == ["build", "lint"]
    build = next(s for s in second if s.name == "build")
    finish(fdb, r, build)
    third = fdb.workflows.runners.claim_many(r.runner.id, runner_token=r.token, limit=10)
    assert [s.name for s in third] == ["package"]  # test still waits for lint
    lint = next(s for s in second if s.name == "lint")
    finish(fdb, r, lint)
    assert [s.name for s in [claim(fdb, r)] if s] == ["test"]
    assert fdb.workflows.get_run(world.repo.id, run.id).state == "running"


def test_the_run_succeeds_when_its_last_step_does(fdb: ForgeDB, world: World) -> None:
    run = _start(fdb, world, [{"name": "a"}, {"name": "b", "needs": ["a"]}])
    r = runner(fdb)
    for _ in range(2):
        step = claim(fdb, r)
        assert step is not None
        done = finish(fdb, r, step)
    assert done.run_state == "succeeded"
    got = fdb.workflows.get_run(world.repo.id, run.id)
    assert (got.state, got.steps_succeeded, got.finished_at is not None) == ("succeeded", 2, True)


def test_a_failure_for_good_fails_the_run_and_skips_what_waits(fdb: ForgeDB, world: World) -> None:
    run = _start(fdb, world, DAG)
    r = runner(fdb)
    step = claim(fdb, r)
    assert step is not None
    done = finish(fdb, r, step, "failed", error="no disk")
    assert (done.state, done.run_state) == ("failed", "failed")
    got = fdb.workflows.get_run(world.repo.id, run.id)
    assert [s.state for s in got.steps] == ["failed"] + ["skipped"] * 5
    assert got.error == "step failed: no disk"
    assert claim(fdb, r) is None


def test_a_stale_fencing_token_is_refused_and_changes_nothing(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    _start(fdb, world, [{"name": "only", "max_attempts": 3}])
    late, successor = runner(fdb), runner(fdb)
    first = claim(fdb, late)
    assert first is not None
    expire(conn, first.id)
    second = claim(fdb, successor)
    assert second is not None
    assert (second.id, second.attempt) == (first.id, 2)
    assert second.fencing_token > first.fencing_token
    with pytest.raises(Conflict):
        finish(fdb, late, first)
    with pytest.raises(Conflict):
        finish(fdb, successor, first)  # the old token, even from the new holder
    assert finish(fdb, successor, second).state == "succeeded"


def test_a_dead_runners_step_comes_back_with_its_attempt_counted(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    run = _start(fdb, world, [{"name": "only", "max_attempts": 2}])
    dead, alive = runner(fdb), runner(fdb)
    taken = claim(fdb, dead)
    assert taken is not None
    fdb.workflows.heartbeat(alive.runner.id, runner_token=alive.token)
    silence(conn, dead, timedelta(minutes=10))
    reaped = fdb.workflows.reap_dead_runners(silent_for=60)
    assert (reaped.runners, reaped.requeued, reaped.failed) == (1, 1, 0)
    step = fdb.workflows.get_run(world.repo.id, run.id).steps[0]
    assert (step.state, step.attempts) == ("pending", 1)
    again = claim(fdb, alive)
    assert again is not None
    assert again.attempt == 2
    with pytest.raises(Conflict):
        finish(fdb, dead, taken)
    assert claim(fdb, dead) is None  # offline until it sends a heartbeat again
    assert finish(fdb, alive, again).run_state == "succeeded"


def test_a_dead_runners_step_out_of_attempts_fails_its_run(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    run = _start(fdb, world, [{"name": "a"}, {"name": "b", "needs": ["a"]}])
    dead = runner(fdb)
    assert claim(fdb, dead) is not None
    silence(conn, dead, timedelta(minutes=10))
    assert fdb.workflows.reap_dead_runners(silent_for=60).failed == 1
    got = fdb.workflows.get_run(world.repo.id, run.id)
    assert (got.state, [s.state for s in got.steps]) == ("failed", ["failed", "skipped"])


def test_an_expired_lease_out_of_attempts_is_not_taken_over(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    _start(fdb, world, [{"name": "once"}])
    first, other = runner(fdb), runner(fdb)
    taken = claim(fdb, first)
    assert taken is not None
    expire(conn, taken.id)
    assert claim(fdb, other) is None


def test_retries_follow_the_backoff_formula(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    # d = min(cap, base * 2^(attempt - 1)), then a delay in [d/2, d] (equal jitter).
    _start(
        fdb,
        world,
        [{"name": "flaky", "max_attempts": 5, "retry_delay_seconds": 10,
          "retry_max_delay_seconds": 25}],
    )  # fmt: skip
    r = runner(fdb)
    for attempt, d in ((1, 10.0), (2, 20.0), (3, 25.0), (4, 25.0)):
        step = claim(fdb, r)
        assert step is not None
        assert step.attempt == attempt
        done = finish(fdb, r, step, "failed")
        assert done.state == "pending"
        row = conn.execute(
            "SELECT extract(epoch FROM next_attempt_at - finished_at) FROM workflow_steps "
            "WHERE id = %s",
            (step.id,),
        ).fetchone()
        assert row is not None
        assert d / 2 <= float(row[0]) <= d
        assert claim(fdb, r) is None  # not before the backoff has passed
        due(conn, step.id)
    last = claim(fdb, r)
    assert last is not None
    assert finish(fdb, r, last, "failed").state == "failed"


def test_the_delay_function_is_the_formula(conn: psycopg.Connection[Any]) -> None:
    cases = [(1, 2.0, 100.0, 0.0, 1.0), (1, 2.0, 100.0, 1.0, 2.0), (4, 2.0, 100.0, 1.0, 16.0),
             (10, 2.0, 100.0, 0.5, 75.0), (3, 1.0, 3.0, 0.0, 1.5)]  # fmt: skip
    for attempt, base, cap, jitter, seconds in cases:
        row = conn.execute(
            "SELECT extract(epoch FROM workflow_retry_delay(%s, %s, %s, %s))",
            (attempt, base, cap, jitter),
        ).fetchone()
        assert row is not None
        assert float(row[0]) == pytest.approx(seconds)


def test_a_runner_takes_only_steps_whose_labels_it_has(fdb: ForgeDB, world: World) -> None:
    _start(fdb, world, [{"name": "gpu", "runs_on": ["gpu", "linux"]}])
    plain, linux, gpu = runner(fdb), runner(fdb, "linux"), runner(fdb, "linux", "gpu", "x")
    assert claim(fdb, plain) is None
    assert claim(fdb, linux) is None
    got = claim(fdb, gpu)
    assert got is not None
    assert got.labels == ["gpu", "linux"]


def test_a_dedicated_runner_takes_only_its_repositorys_steps(fdb: ForgeDB, world: World) -> None:
    _start(fdb, world, [{"name": "public one"}])
    own = runner(fdb, repository_id=world.private.id, actor_id=world.owner.id)
    assert claim(fdb, own) is None
    fdb.workflows.start_run(world.private.id, actor_id=world.owner.id, steps=[{"name": "mine"}])
    got = claim(fdb, own)
    assert got is not None
    assert got.repository_id == world.private.id


def test_capacity_bounds_a_batch_claim(fdb: ForgeDB, world: World) -> None:
    for _ in range(5):
        _start(fdb, world, [{"name": "s"}])
    r = runner(fdb, capacity=3)
    assert len(fdb.workflows.runners.claim_many(r.runner.id, runner_token=r.token, limit=10)) == 3
    assert claim(fdb, r) is None


def test_finish_many_finishes_a_batch_and_skips_stale_tokens(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    for _ in range(4):
        _start(fdb, world, [{"name": "s"}])
    r = runner(fdb, capacity=4)
    steps = fdb.workflows.runners.claim_many(r.runner.id, runner_token=r.token, limit=4)
    done = fdb.workflows.runners.finish_many(
        runner_id=r.runner.id,
        runner_token=r.token,
        step_ids=[s.id for s in steps],
        tokens=[s.fencing_token + (1000 if i == 0 else 0) for i, s in enumerate(steps)],
    )
    assert sorted(d.id for d in done) == sorted(s.id for s in steps[1:])
    assert {d.run_state for d in done} == {"succeeded"}


def test_a_wrong_runner_token_is_refused(fdb: ForgeDB, world: World) -> None:
    r = runner(fdb)
    with pytest.raises(AuthenticationFailed):
        fdb.workflows.claim_step(r.runner.id, runner_token="fdr_wrong")
    with pytest.raises(AuthenticationFailed):
        fdb.workflows.heartbeat(r.runner.id, runner_token=r.token + "x")


def test_registering_again_replaces_the_token(fdb: ForgeDB) -> None:
    first = fdb.workflows.register_runner(name="again", labels=["a"])
    second = fdb.workflows.register_runner(name="AGAIN", labels=["b"])
    assert first.runner.id == second.runner.id
    assert second.runner.labels == ["b"]
    with pytest.raises(AuthenticationFailed):
        fdb.workflows.heartbeat(first.runner.id, runner_token=first.token)
    assert fdb.workflows.heartbeat(second.runner.id, runner_token=second.token).state == "idle"


def test_a_dedicated_runners_name_cannot_be_taken_over(fdb: ForgeDB, world: World) -> None:
    fdb.workflows.register_runner(
        name="theirs", repository_id=world.private.id, actor_id=world.owner.id
    )
    with pytest.raises(AlreadyExists):
        fdb.workflows.register_runner(name="theirs")


def test_a_heartbeat_extends_the_leases_it_holds_and_drops_cancelled_ones(
    fdb: ForgeDB, world: World
) -> None:
    run = _start(fdb, world, [{"name": "s"}])
    r = runner(fdb)
    step = claim(fdb, r, lease_seconds=5)
    assert step is not None
    beat = fdb.workflows.heartbeat(r.runner.id, runner_token=r.token, lease_seconds=600)
    assert beat.held == [step.id]
    assert beat.state == "busy"
    assert beat.lease_expires_at is not None
    assert beat.lease_expires_at > step.lease_expires_at
    fdb.workflows.cancel_run(world.repo.id, run.id, actor_id=world.writer.id)
    assert fdb.workflows.heartbeat(r.runner.id, runner_token=r.token).held == []
    with pytest.raises(Conflict):
        finish(fdb, r, step)


def test_a_draining_runner_takes_nothing_new(fdb: ForgeDB, world: World) -> None:
    _start(fdb, world, [{"name": "s"}])
    r = runner(fdb)
    assert fdb.workflows.runners.drain(r.runner.id, runner_token=r.token).state == "draining"
    assert claim(fdb, r) is None
    fdb.workflows.runners.drain(r.runner.id, runner_token=r.token, draining=False)
    assert claim(fdb, r) is not None


def test_a_claim_skips_a_step_another_transaction_holds_instead_of_waiting(
    fdb: ForgeDB, world: World, database_url: str
) -> None:
    held_run = _start(fdb, world, [{"name": "held"}])
    free_run = _start(fdb, world, [{"name": "free"}])
    r = runner(fdb)
    with psycopg.connect(database_url) as other, other.transaction():
        other.execute("SELECT 1 FROM workflow_steps WHERE run_id = %s FOR UPDATE", (held_run.id,))
        # A claim that waited for the held row would hit this timeout instead of answering.
        with ForgeDB.connect(database_url, min_size=1, max_size=1, statement_timeout=30) as own:
            got = own.workflows.claim_step(r.runner.id, runner_token=r.token)
        assert got is not None
        assert got.run_id == free_run.id
