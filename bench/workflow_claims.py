"""Step claim and finish throughput, claim latency by backlog, log ingest: ``python -m bench.workflow_claims``.

One process, one server (``--url``, default the machine's PostgreSQL), a fresh database. Each
throughput row drains the same number of one-step runs (no-op work) with 8 runner threads,
each on its own connection:

- forge_db: ``db.workflows.claim_step`` then ``finish_step`` (or ``claim_many`` and
  ``finish_many`` with batches of 10);
- raw psycopg: the very same statements (taken from the operations' ``query()``) on one
  autocommit connection per thread, rows left as tuples: what forge_db's Python layer costs.

Latency: one runner claims 200 steps with 1,000 and with 100,000 pending, median per claim.
Logs: 20,000 lines appended one line per statement, and in batches of 1,000.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from forge_db import ForgeDB, migrations
from forge_db.config import with_dbname
from forge_db.workflows import RegisteredRunner

from .run import RESULTS, machine

RUNNERS = 8


def _fill(conn: psycopg.Connection[Any], repository_id: int, count: int) -> None:
    """``count`` queued one-step runs, written in bulk (the setup, not what is measured)."""
    conn.execute(
        """
        WITH runs AS (
            INSERT INTO workflow_runs (repository_id, trigger, steps_total)
            SELECT %(r)s, 'api', 1 FROM generate_series(1, %(n)s)
            RETURNING id
        )
        INSERT INTO workflow_steps (repository_id, run_id, position, name)
        SELECT %(r)s, id, 0, 'noop' FROM runs
        """,
        {"r": repository_id, "n": count},
    )
    conn.execute("VACUUM ANALYZE workflow_steps")
    conn.execute("VACUUM ANALYZE workflow_runs")


def _drain(
    url: str,
    runners: list[RegisteredRunner],
    work: Callable[[Any, RegisteredRunner], int],
    raw: bool,
) -> int:
    done = [0] * len(runners)
    barrier = threading.Barrier(len(runners))

    def body(index: int) -> None:
        if raw:
            with psycopg.connect(url, autocommit=True) as conn:
                barrier.wait()
                while n := work(conn, runners[index]):
                    done[index] += n
        else:
            with ForgeDB.connect(url, min_size=1, max_size=1) as db:
                barrier.wait()
                while n := work(db, runners[index]):
                    done[index] += n

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(runners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def _forge_one(db: ForgeDB, r: RegisteredRunner) -> int:
    step = db.workflows.claim_step(r.runner.id, runner_token=r.token)
    if step is None:
        return 0
    db.workflows.finish_step(
        step.id, runner_id=r.runner.id, runner_token=r.token, token=step.fencing_token,
        outcome="succeeded",
    )  # fmt: skip
    return 1


def _forge_batch(db: ForgeDB, r: RegisteredRunner) -> int:
    steps = db.workflows.runners.claim_many(r.runner.id, runner_token=r.token, limit=10)
    if not steps:
        return 0
    db.workflows.runners.finish_many(
        runner_id=r.runner.id, runner_token=r.token, step_ids=[s.id for s in steps],
        tokens=[s.fencing_token for s in steps],
    )  # fmt: skip
    return len(steps)


def _raw(shape: ForgeDB, limit: int) -> Callable[[psycopg.Connection[Any], RegisteredRunner], int]:
    """The same statements as forge_db's, sent by hand; rows read as tuples."""
    ops = shape.workflows.runners

    def work(conn: psycopg.Connection[Any], r: RegisteredRunner) -> int:
        claim = ops.claim_many.query(r.runner.id, runner_token=r.token, limit=limit)
        cursor = conn.execute(claim.sql, claim.params)
        rows = cursor.fetchall()
        if not rows:
            return 0
        names = [c.name for c in cursor.description or []]
        ids, tokens = names.index("id"), names.index("fencing_token")
        finish = ops.finish_many.query(
            runner_id=r.runner.id, runner_token=r.token, step_ids=[row[ids] for row in rows],
            tokens=[row[tokens] for row in rows],
        )  # fmt: skip
        conn.execute(finish.sql, finish.params).fetchall()
        return len(rows)

    return work


def measure(url: str, jobs: int) -> list[dict[str, Any]]:
    """Every row of the benchmark."""
    rows: list[dict[str, Any]] = []
    with ForgeDB.connect(url) as db, psycopg.connect(url, autocommit=True) as conn:
        owner = db.users.create(username="bench")
        repo = db.repositories.create(owner_id=owner.id, name="bench")
        runners = [
            db.workflows.register_runner(name=f"bench-{i}", capacity=64) for i in range(RUNNERS)
        ]
        modes: list[tuple[str, Any, bool]] = [
            ("forge_db claim 1 + finish 1", _forge_one, False),
            ("raw psycopg, same SQL, claim 1 + finish 1", _raw(db, 1), True),
            ("forge_db claim 10 + finish 10", _forge_batch, False),
            ("raw psycopg, same SQL, claim 10 + finish 10", _raw(db, 10), True),
        ]
        for name, work, raw in modes:
            _fill(conn, repo.id, jobs)
            started = time.perf_counter()
            done = _drain(url, runners, work, raw)
            elapsed = time.perf_counter() - started
            rows.append(
                {"name": name, "steps": done, "seconds": elapsed, "per_second": done / elapsed}
            )
        one = runners[0]
        for backlog in (1_000, 100_000):
            conn.execute("DELETE FROM workflow_runs")
            conn.execute("VACUUM workflow_steps")
            _fill(conn, repo.id, backlog)
            timings = []
            for _ in range(200):
                started = time.perf_counter()
                step = db.workflows.claim_step(one.runner.id, runner_token=one.token)
                timings.append(time.perf_counter() - started)
                assert step is not None
                db.workflows.finish_step(
                    step.id, runner_id=one.runner.id, runner_token=one.token,
                    token=step.fencing_token, outcome="succeeded",
                )  # fmt: skip
            rows.append(
                {
                    "name": f"claim latency, {backlog} pending",
                    "median_ms": 1000 * statistics.median(timings),
                }
            )
        conn.execute("DELETE FROM workflow_runs")
        run = db.workflows.start_run(repo.id, actor_id=owner.id, steps=[{"name": "log"}])
        step = db.workflows.claim_step(one.runner.id, runner_token=one.token)
        assert step is not None
        lines = [f"line {n} of the build output, as a runner writes it" for n in range(20_000)]
        for name, size in (
            ("log ingest, 1 line per statement", 1),
            ("log ingest, 1,000 lines per statement", 1000),
        ):
            started = time.perf_counter()
            for start in range(0, len(lines), size):
                db.workflows.append_logs(
                    run.id, runner_id=one.runner.id, runner_token=one.token,
                    lines=lines[start : start + size],
                )  # fmt: skip
            elapsed = time.perf_counter() - started
            rows.append({"name": name, "lines": len(lines), "per_second": len(lines) / elapsed})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on a fresh database and write its results file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--out", default=str(RESULTS / "2026-12-01-workflow-claims.json"))
    args = parser.parse_args(argv)
    name = f"bench_workflows_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_dbname(args.url, name)
    try:
        migrations.migrate(url)
        rows = measure(url, args.jobs)
        for row in rows:
            print(row)
        Path(args.out).write_text(
            json.dumps(
                {"when": datetime.now(UTC).isoformat(), "machine": machine(url), "jobs": args.jobs,
                 "runners": RUNNERS, "rows": rows},
                indent=2,
                default=str,
            )
            + "\n"
        )  # fmt: skip
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
