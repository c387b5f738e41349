"""Workflows under real concurrency: runner threads with their own connections, real barriers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

import psycopg
from support import make_repository, make_user
from workflows.conftest import DAG, runner

from forge_db import Conflict, ForgeDB
from forge_db.workflows import ClaimedStep, RegisteredRunner

LEASE = 300


def _run(threads: int, work: Callable[[int], None]) -> list[BaseException]:
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def _dag(index: int) -> list[dict[str, Any]]:
    steps = [dict(step) for step in DAG]
    steps[2] |= {"max_attempts": 3, "retry_delay_seconds": 0.001, "retry_max_delay_seconds": 0.002}
    return steps


def _outcome(run_index: int, name: str, attempt: int) -> Literal["succeeded", "failed"]:
    # lint fails its first attempt in every third run (then succeeds on the retry); package
    # fails for good in every tenth run, which fails the run.
    if name == "lint" and run_index % 3 == 0 and attempt == 1:
        return "failed"
    if name == "package" and run_index % 10 == 0:
        return "failed"
    return "succeeded"


def test_sixteen_runners_run_every_step_once_per_attempt_after_its_dependencies(
    db: ForgeDB, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    runs = 200
    run_index: dict[UUID, int] = {}
    for i in range(runs):
        started = db.workflows.runs.start(repo.id, actor_id=owner.id, steps=_dag(i))
        run_index[started.id] = i
    runners = [runner(db, capacity=1) for _ in range(16)]
    attempts: list[tuple[UUID, int, str, Any]] = []
    lock = threading.Lock()

    def unfinished(own: ForgeDB) -> bool:
        with own.connection() as c:
            row = c.execute(
                "SELECT count(*) FROM workflow_runs WHERE repository_id = %s "
                "AND state IN ('queued', 'running')",
                (repo.id,),
            ).fetchone()
        return bool(row and row[0])

    def work(index: int) -> None:
        me: RegisteredRunner = runners[index]
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            while True:
                step: ClaimedStep | None = own.workflows.runners.claim(
                    me.runner.id, runner_token=me.token, lease_seconds=LEASE
                )
                if step is None:
                    if not unfinished(own):
                        return
                    time.sleep(0.002)  # nothing claimable yet: poll again (not a sync point)
                    continue
                with lock:
                    attempts.append((step.id, step.attempt, step.name, step.started_at))
                # Conflict: the run failed and its steps were skipped meanwhile; not ours.
                with contextlib.suppress(Conflict):
                    own.workflows.runners.finish(
                        step.id,
                        runner_id=me.runner.id,
                        runner_token=me.token,
                        token=step.fencing_token,
                        outcome=_outcome(run_index[step.run_id], step.name, step.attempt),
                    )

    assert _run(16, work) == []

    # Every attempt ran exactly once, attempts counted 1, 2, ... without a hole.
    seen = [(step_id, attempt) for step_id, attempt, _, _ in attempts]
    assert len(seen) == len(set(seen))
    by_step: dict[UUID, list[int]] = {}
    for step_id, attempt in seen:
        by_step.setdefault(step_id, []).append(attempt)
    assert all(sorted(a) == list(range(1, len(a) + 1)) for a in by_step.values())

    rows = conn.execute(
        "SELECT id, run_id, position, name, state, depends_on, attempts, finished_at "
        "FROM workflow_steps WHERE repository_id = %s",
        (repo.id,),
    ).fetchall()
    steps = {r[0]: r for r in rows}
    position = {(r[1], r[2]): r for r in rows}
    assert all(len(by_step.get(r[0], [])) == r[6] for r in rows)

    # No attempt began before every step it depends on had succeeded.
    for step_id, _attempt, _name, claimed_at in attempts:
        _, run_id, _, _, _, depends_on, _, _ = steps[step_id]
        for dep in depends_on:
            dependency = position[(run_id, dep)]
            assert dependency[4] == "succeeded"
            assert dependency[7] <= claimed_at

    # Every run ended as its steps decided.
    states = dict(
        conn.execute(
            "SELECT id, state FROM workflow_runs WHERE repository_id = %s", (repo.id,)
        ).fetchall()
    )
    for run_id, i in run_index.items():
        assert states[run_id] == ("failed" if i % 10 == 0 else "succeeded"), i
        names = {r[3]: r[4] for r in rows if r[1] == run_id}
        if i % 10 == 0:
            assert names["package"] == "failed"
            assert names["publish"] == "skipped"
        else:
            assert set(names.values()) == {"succeeded"}
        if i % 3 == 0 and i % 10 != 0:
            assert position[(run_id, 2)][6] == 2  # lint ran twice


def test_sixteen_concurrent_starts_with_one_key_make_one_run(
    db: ForgeDB, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    started: list[Any] = []

    def work(index: int) -> None:
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            started.append(
                own.workflows.start_run(
                    repo.id, actor_id=owner.id, steps=DAG, idempotency_key="deploy-42"
                )
            )

    assert _run(16, work) == []
    assert len({run.id for run in started}) == 1
    assert sum(run.created for run in started) == 1
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM workflow_runs WHERE repository_id = %(r)s), "
        "(SELECT count(*) FROM workflow_steps WHERE repository_id = %(r)s)",
        {"r": repo.id},
    ).fetchone()
    assert counts == (1, len(DAG))


def test_a_cancel_racing_runners_leaves_no_step_of_the_tree_running(
    db: ForgeDB, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    root = db.workflows.runs.start(repo.id, actor_id=owner.id, steps=DAG)
    children = [
        db.workflows.runs.start(repo.id, actor_id=owner.id, steps=DAG, parent_run_id=root.id)
        for _ in range(4)
    ]
    for child in children:
        db.workflows.runs.start(repo.id, actor_id=owner.id, steps=DAG, parent_run_id=child.id)
    runners = [runner(db, capacity=4) for _ in range(7)]
    cancelled = threading.Event()

    def work(index: int) -> None:
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            if index == 7:
                try:
                    own.workflows.cancel_run(repo.id, root.id, actor_id=owner.id)
                finally:
                    cancelled.set()
                return
            me = runners[index]
            while not cancelled.is_set():
                step = own.workflows.runners.claim(me.runner.id, runner_token=me.token)
                if step is None:
                    continue
                # Conflict: cancelled under it, the refusal the fencing token promises.
                with contextlib.suppress(Conflict):
                    own.workflows.runners.finish(
                        step.id,
                        runner_id=me.runner.id,
                        runner_token=me.token,
                        token=step.fencing_token,
                        outcome="succeeded",
                    )

    assert _run(8, work) == []
    leftovers = conn.execute(
        "SELECT r.state, s.state, count(*) FROM workflow_runs r "
        "JOIN workflow_steps s ON s.run_id = r.id WHERE r.repository_id = %s "
        "AND (r.state IN ('queued', 'running') OR s.state IN ('pending', 'running')) "
        "GROUP BY 1, 2",
        (repo.id,),
    ).fetchall()
    # Only runs that had already succeeded are not cancelled; nothing is left to run.
    assert leftovers == []
