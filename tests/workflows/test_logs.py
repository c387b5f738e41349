"""db.workflows.logs: batches numbered in order, tails without gaps, caps and retention."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from forge_db import ForgeDB, InvalidInput, NotFound
from forge_db.workflows import logs as log_module

from .conftest import World, claim, runner


def _running(fdb: ForgeDB, world: World, repo: Any = None) -> tuple[Any, Any, Any]:
    repository = repo or world.repo
    run = fdb.workflows.start_run(repository.id, actor_id=world.owner.id, steps=[{"name": "s"}])
    r = runner(fdb)
    step = claim(fdb, r)
    assert step is not None
    return run, r, step


def test_batches_take_consecutive_line_numbers(fdb: ForgeDB, world: World) -> None:
    run, r, step = _running(fdb, world)
    logs = fdb.workflows.logs
    first = logs.append(run.id, runner_id=r.runner.id, runner_token=r.token, lines=["a", "b"])
    second = logs.append(
        run.id, runner_id=r.runner.id, runner_token=r.token, lines=["c", "c"], step_id=step.id,
        level="error",
    )  # fmt: skip
    assert (first.first_line, first.last_line, second.first_line, second.last_line) == (1, 2, 3, 4)
    tail = fdb.workflows.tail_logs(world.repo.id, run.id)
    assert [(x.line, x.message) for x in tail.lines] == [(1, "a"), (2, "b"), (3, "c"), (4, "c")]
    assert tail.next_line == 4
    only_step = fdb.workflows.tail_logs(world.repo.id, run.id, step_id=step.id, after_line=3)
    assert [(x.line, x.level) for x in only_step.lines] == [(4, "error")]
    empty = fdb.workflows.tail_logs(world.repo.id, run.id, after_line=4)
    assert (empty.lines, empty.next_line) == ([], 4)


def test_only_a_runner_that_ran_a_step_of_the_run_may_append(fdb: ForgeDB, world: World) -> None:
    run, _, _ = _running(fdb, world)
    other = runner(fdb)
    with pytest.raises(NotFound):
        fdb.workflows.append_logs(
            run.id, runner_id=other.runner.id, runner_token=other.token, lines=["x"]
        )


def test_a_private_runs_log_is_invisible_to_strangers(fdb: ForgeDB, world: World) -> None:
    run, r, _ = _running(fdb, world, world.private)
    fdb.workflows.append_logs(run.id, runner_id=r.runner.id, runner_token=r.token, lines=["s"])
    assert (
        fdb.workflows.tail_logs(world.private.id, run.id, viewer_id=world.stranger.id).lines == []
    )
    assert fdb.workflows.tail_logs(world.repo.id, run.id, viewer_id=world.reader.id).lines == []
    assert len(fdb.workflows.tail_logs(world.private.id, run.id, viewer_id=world.reader.id).lines)


def test_the_log_of_a_run_is_capped(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    run, r, _ = _running(fdb, world)
    fdb.workflows.append_logs(run.id, runner_id=r.runner.id, runner_token=r.token, lines=["a"])
    conn.execute("UPDATE workflow_log_counters SET bytes = 67108860 WHERE run_id = %s", (run.id,))
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.append_logs(
            run.id, runner_id=r.runner.id, runner_token=r.token, lines=["too much"]
        )
    assert refused.value.field == "lines"
    assert [x.line for x in fdb.workflows.tail_logs(world.repo.id, run.id).lines] == [1]


def test_old_lines_are_purged_in_batches(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    run, r, _ = _running(fdb, world)
    fdb.workflows.append_logs(
        run.id, runner_id=r.runner.id, runner_token=r.token, lines=[str(n) for n in range(5)]
    )
    conn.execute("ALTER TABLE workflow_logs DISABLE TRIGGER workflow_logs_refuse_update")
    conn.execute("UPDATE workflow_logs SET created_at = now() - interval '40 days' WHERE line < 5")
    conn.execute("ALTER TABLE workflow_logs ENABLE TRIGGER workflow_logs_refuse_update")
    purge = fdb.workflows.logs.purge
    assert [purge(older_than=timedelta(days=30), batch=3) for _ in range(3)] == [3, 1, 0]
    assert [x.line for x in fdb.workflows.tail_logs(world.repo.id, run.id).lines] == [5]


@pytest.mark.parametrize("copy_from", [1000, 5], ids=["arrays", "copy-and-arrays"])
def test_a_tailing_reader_sees_concurrent_appends_in_order_without_gaps(
    fdb: ForgeDB, world: World, database_url: str, monkeypatch: pytest.MonkeyPatch, copy_from: int
) -> None:
    # With copy_from=5 the writers' batches of 7 go by COPY while the odd writers' batches
    # of 3 go as arrays: both paths interleave on one run's numbering.
    monkeypatch.setattr(log_module, "COPY_FROM", copy_from)
    run, r, _ = _running(fdb, world)
    writers, batches = 6, 15

    def size_of(index: int) -> int:
        return 7 if index % 2 == 0 else 3

    total = batches * sum(size_of(i) for i in range(writers))
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []
    seen: list[int] = []

    def write(index: int) -> None:
        try:
            with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
                barrier.wait()
                for b in range(batches):
                    own.workflows.append_logs(
                        run.id, runner_id=r.runner.id, runner_token=r.token,
                        lines=[f"{index}-{b}-{n}" for n in range(size_of(index))],
                    )  # fmt: skip
        except BaseException as exc:  # asserted on below
            errors.append(exc)

    def read() -> None:
        try:
            with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
                barrier.wait()
                after = 0
                while after < total:
                    tail = own.workflows.tail_logs(world.repo.id, run.id, after_line=after)
                    seen.extend(x.line for x in tail.lines)
                    after = tail.next_line
        except BaseException as exc:  # asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert seen == list(range(1, total + 1))
    lines = fdb.workflows.tail_logs(world.repo.id, run.id, limit=10_000).lines
    # Each batch kept its lines together and in order.
    for index in range(writers):
        mine = [x for x in lines if x.message.startswith(f"{index}-")]
        size = size_of(index)
        for b in range(batches):
            chunk = mine[b * size : (b + 1) * size]
            assert [x.line for x in chunk] == list(range(chunk[0].line, chunk[0].line + size))
            assert [x.message for x in chunk] == [f"{index}-{b}-{n}" for n in range(size)]


def test_a_large_batch_goes_by_copy_and_is_numbered_like_a_small_one(
    fdb: ForgeDB, world: World
) -> None:
    run, r, step = _running(fdb, world)
    append = fdb.workflows.logs.append
    big = [f"line {n}" for n in range(log_module.COPY_FROM)]
    small = big[:-1]
    who = {"runner_id": r.runner.id, "runner_token": r.token}
    build = log_module.Logs.append.query
    assert build(fdb.workflows.logs, run.id, lines=big, **who).copy is not None
    assert build(fdb.workflows.logs, run.id, lines=small, **who).copy is None
    first = append(run.id, lines=small, **who)
    second = append(run.id, lines=big, step_id=step.id, level="warning", **who)
    third = append(run.id, lines=["after"], **who)
    assert (first.first_line, first.last_line) == (1, len(small))
    assert (second.first_line, second.last_line) == (len(small) + 1, len(small) + len(big))
    assert (third.first_line, third.last_line) == (second.last_line + 1, second.last_line + 1)
    tail = fdb.workflows.tail_logs(world.repo.id, run.id, after_line=len(small), limit=10_000)
    assert [x.message for x in tail.lines] == [*big, "after"]
    assert [x.line for x in tail.lines] == list(range(len(small) + 1, third.last_line + 1))
    assert {(x.step_id, x.level) for x in tail.lines[:-1]} == {(step.id, "warning")}


def test_copy_batches_in_one_transaction_each_take_only_their_own_lines(
    fdb: ForgeDB, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "COPY_FROM", 2)
    run, r, _ = _running(fdb, world)
    who = {"runner_id": r.runner.id, "runner_token": r.token}
    with fdb.transaction() as tx:
        a = tx.workflows.append_logs(run.id, lines=["a1", "a2"], **who)
        b = tx.workflows.append_logs(run.id, lines=["b1", "b2", "b3"], **who)
    assert (a.first_line, a.last_line, b.first_line, b.last_line) == (1, 2, 3, 5)
    tail = fdb.workflows.tail_logs(world.repo.id, run.id)
    assert [x.message for x in tail.lines] == ["a1", "a2", "b1", "b2", "b3"]


def test_a_refused_copy_batch_writes_nothing_and_leaves_the_numbering_whole(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "COPY_FROM", 2)
    run, r, _ = _running(fdb, world)
    who = {"runner_id": r.runner.id, "runner_token": r.token}
    fdb.workflows.append_logs(run.id, lines=["a"], **who)
    other = runner(fdb)
    with pytest.raises(NotFound):
        fdb.workflows.append_logs(
            run.id, runner_id=other.runner.id, runner_token=other.token, lines=["x", "y"]
        )
    conn.execute("UPDATE workflow_log_counters SET bytes = 67108860 WHERE run_id = %s", (run.id,))
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.append_logs(run.id, lines=["too", "much"], **who)
    assert refused.value.field == "lines"
    conn.execute("UPDATE workflow_log_counters SET bytes = 1 WHERE run_id = %s", (run.id,))
    after = fdb.workflows.append_logs(run.id, lines=["b", "c"], **who)
    assert (after.first_line, after.last_line) == (2, 3)
    assert [x.message for x in fdb.workflows.tail_logs(world.repo.id, run.id).lines] == [
        "a",
        "b",
        "c",
    ]
