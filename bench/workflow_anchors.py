"""Step claims against the anchors, claim latency by backlog, log ingest: ``python -m bench.workflow_anchors``.

One process, one server (``--url``, default the machine's PostgreSQL 15), one fresh database
holding forge_db's schema, procrastinate's and pgqueuer's (each installed by its own API), and a
minimal job table for the raw pattern. Every throughput row drains the same number of no-op
jobs with 8 consumers, in interleaved rounds:

- forge_db: ``claim_step`` + ``finish_step`` (claim 1), ``claim_many`` + ``finish_many`` (10);
  8 threads, each with its own runner and connection;
- raw ``FOR UPDATE SKIP LOCKED`` on a one-table queue, claim 1 / 10 then complete them;
  8 threads with autocommit connections;
- pgqueuer: 8 ``QueueManager`` on their own psycopg connections in one event loop,
  ``batch_size`` 1 and 10, ``mode=drain``;
- procrastinate: one worker with ``concurrency=8``, ``wait=False`` (exits once drained);
- pgbench (the embedded server's binary, ``-M prepared``, 8 clients): forge_db's own claim and
  finish statements, the claimed ids and tokens carried to the finish by ``\\gset``;
- forge_db and the raw pattern again with 8 processes instead of 8 threads: runners are
  separate processes (or machines), and threads of one process take turns on its interpreter
  lock, which pgbench's clients do not; the clock starts once every process is connected.

Each throughput row also records the WAL the cluster wrote per job while it ran
(``pg_stat_wal``): what a claim and its finish write, against the one-table pattern.

Latency: one runner claims and finishes 200 steps with 1,000 and with 100,000 pending, median
per claim, in interleaved rounds; the claim statement's planning and execution time at each
depth come from ``EXPLAIN (ANALYZE, BUFFERS)``, rolled back.
Logs: 20,000 lines one per statement, and in batches sent as an array or by ``COPY``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from forge_db import ForgeDB, embedded, migrations
from forge_db.config import with_dbname
from forge_db.workflows import RegisteredRunner
from forge_db.workflows import logs as log_module

from .run import RESULTS, literal_sql, machine
from .workflow_claims import _drain, _fill, _forge_batch, _forge_one

CONSUMERS = 8
Conn = psycopg.Connection[Any]

_RAW_SCHEMA = """
    CREATE TABLE raw_jobs (
        id bigserial PRIMARY KEY,
        state text NOT NULL DEFAULT 'queued',
        payload jsonb,
        picked_at timestamptz,
        done_at timestamptz
    );
    CREATE INDEX raw_jobs_queued_idx ON raw_jobs (id) WHERE state = 'queued';
"""
_RAW_CLAIM = """
    UPDATE raw_jobs j SET state = 'picked', picked_at = now()
    FROM (SELECT id FROM raw_jobs WHERE state = 'queued' ORDER BY id LIMIT %s
          FOR UPDATE SKIP LOCKED) p
    WHERE j.id = p.id
    RETURNING j.id
"""
_RAW_DONE = "UPDATE raw_jobs SET state = 'done', done_at = now() WHERE id = ANY (%s)"


def _wal(url: str) -> tuple[int, int]:
    """The cluster's WAL records and bytes so far (``pg_stat_wal``)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT wal_records, wal_bytes FROM pg_stat_wal").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _timed(url: str, run: Callable[[], int]) -> dict[str, Any]:
    """Jobs per second of ``run``, and the WAL the whole cluster wrote meanwhile per job (on a
    calm machine, what this system writes for a job: the fill is outside)."""
    wal = _wal(url)
    started = time.perf_counter()
    done = run()
    elapsed = time.perf_counter() - started
    records, size = (after - before for after, before in zip(_wal(url), wal, strict=True))
    return {
        "jobs": done,
        "seconds": elapsed,
        "per_second": done / elapsed,
        "wal_records_per_job": round(records / max(done, 1), 1),
        "wal_bytes_per_job": round(size / max(done, 1)),
    }


def _process_runner(
    url: str, runner: RegisteredRunner | None, batch: int, ready: Any, go: Any, results: Any
) -> None:
    """One consumer process: forge_db's runner (``runner``) or the raw pattern (``None``)."""
    done = 0
    if runner is None:
        with psycopg.connect(url, autocommit=True) as own:
            ready.wait()
            go.wait()
            while ids := [r[0] for r in own.execute(_RAW_CLAIM, (batch,)).fetchall()]:
                own.execute(_RAW_DONE, (ids,))
                done += len(ids)
    else:
        work = _forge_one if batch == 1 else _forge_batch
        with ForgeDB.connect(url, min_size=1, max_size=1) as db:
            ready.wait()
            go.wait()
            while n := work(db, runner):
                done += n
    results.put(done)


def _timed_in_processes(
    url: str, runners: list[RegisteredRunner] | None, batch: int
) -> dict[str, Any]:
    """``_timed`` with one process per consumer (spawned: nothing of this process is shared),
    the clock started when every one is connected."""
    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Barrier(CONSUMERS + 1), ctx.Barrier(CONSUMERS + 1), ctx.Queue()
    which: list[RegisteredRunner | None] = list(runners) if runners else [None] * CONSUMERS
    processes = [
        ctx.Process(target=_process_runner, args=(url, r, batch, ready, go, results)) for r in which
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)

    def run() -> int:
        go.wait(timeout=120)
        return sum(int(results.get(timeout=600)) for _ in processes)

    timed = _timed(url, run)
    # Outside the clock: a process's exit (its interpreter shutting down) is no job's work.
    for process in processes:
        process.join(timeout=60)
    return timed


def _raw_fill(conn: Conn, jobs: int) -> None:
    conn.execute("TRUNCATE raw_jobs")
    conn.execute("INSERT INTO raw_jobs (payload) SELECT NULL FROM generate_series(1, %s)", (jobs,))
    conn.execute("VACUUM ANALYZE raw_jobs")


def _raw(url: str, batch: int) -> int:
    done = [0] * CONSUMERS
    barrier = threading.Barrier(CONSUMERS)

    def body(index: int) -> None:
        with psycopg.connect(url, autocommit=True) as own:
            barrier.wait()
            while ids := [r[0] for r in own.execute(_RAW_CLAIM, (batch,)).fetchall()]:
                own.execute(_RAW_DONE, (ids,))
                done[index] += len(ids)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(CONSUMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


async def _pgqueuer_fill(url: str, jobs: int) -> None:
    from pgqueuer.queries import Queries

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("TRUNCATE pgqueuer, pgqueuer_log")
        queries = Queries.from_psycopg_connection(conn)
        for start in range(0, jobs, 5000):
            n = min(5000, jobs - start)
            await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
        await conn.execute("VACUUM ANALYZE pgqueuer")


async def _pgqueuer_drain(url: str, batch: int) -> int:
    from pgqueuer import QueueManager
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    done = [0]
    connections = [
        await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(CONSUMERS)
    ]
    managers = []
    for conn in connections:
        qm = QueueManager(Queries.from_psycopg_connection(conn))

        @qm.entrypoint("noop")
        async def noop(job: Job) -> None:
            done[0] += 1

        managers.append(qm)
    await asyncio.gather(
        *(
            qm.run(
                batch_size=batch,
                mode=QueueExecutionMode.drain,
                dequeue_timeout=timedelta(seconds=1),
                log_aggregation_interval=timedelta(0),
            )
            for qm in managers
        )
    )
    for conn in connections:
        await conn.close()
    return done[0]


def _pgqueuer(url: str, jobs: int, batch: int) -> dict[str, Any]:
    asyncio.run(_pgqueuer_fill(url, jobs))
    return _timed(url, lambda: asyncio.run(_pgqueuer_drain(url, batch)))


def _procrastinate_app(url: str) -> Any:
    import procrastinate

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=CONSUMERS + 2)
    )

    @app.task(name="noop")
    async def noop() -> None:
        return None

    return app


async def _procrastinate_fill(url: str, jobs: int) -> None:
    app = _procrastinate_app(url)
    async with app.open_async():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("TRUNCATE procrastinate_jobs CASCADE")
        task = app.tasks["noop"]
        for start in range(0, jobs, 2000):
            await task.batch_defer_async(*([{}] * min(2000, jobs - start)))


async def _procrastinate_drain(url: str) -> int:
    app = _procrastinate_app(url)
    async with app.open_async():
        await app.run_worker_async(concurrency=CONSUMERS, wait=False, install_signal_handlers=False)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (
            await conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
        ).fetchone()
    return int(row[0]) if row else 0


def _procrastinate(url: str, jobs: int) -> dict[str, Any]:
    asyncio.run(_procrastinate_fill(url, jobs))
    return _timed(url, lambda: asyncio.run(_procrastinate_drain(url)))


def _pgbench_script(db: ForgeDB, url: str, r: RegisteredRunner, batch: int) -> str:
    """forge_db's claim (its rows folded into two arrays) and finish, joined by ``\\gset``."""
    ops = db.workflows.runners
    claim = ops.claim_many.query(r.runner.id, runner_token=r.token, limit=batch)
    placeholder = uuid.UUID(int=0x1111)
    finish = ops.finish_many.query(
        runner_id=r.runner.id, runner_token=r.token, step_ids=[placeholder],
        tokens=[222_222_222_222],
    )  # fmt: skip
    with psycopg.connect(url) as conn:
        claim_sql = literal_sql(conn, claim).rstrip().rstrip(";")
        finish_sql = literal_sql(conn, finish)
    cut = claim_sql.rindex(" SELECT c.id, c.run_id")
    claim_sql = (
        f"{claim_sql[:cut]}, out AS ({claim_sql[cut:]}) "
        "SELECT coalesce(array_agg(id)::text, '{}') AS ids, "
        "coalesce(array_agg(fencing_token)::text, '{}') AS tokens FROM out"
    )
    finish_sql = finish_sql.replace(f"'{{{placeholder.hex}}}'::uuid[]", "(:ids)::uuid[]")
    finish_sql = finish_sql.replace("'{222222222222}'::int8[]", "(:tokens)::int8[]")
    assert ":ids" in finish_sql
    assert ":tokens" in finish_sql
    return f"{claim_sql}\n\\gset\n{finish_sql}"


def _pgbench(url: str, script: str, jobs: int, batch: int) -> int:
    info = psycopg.conninfo.conninfo_to_dict(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    os.chmod(handle.name, 0o644)
    command = [
        str(embedded.pg_bin("pgbench")), "-n", "-M", "prepared", "-c", str(CONSUMERS),
        "-j", "2", "-t", str(math.ceil(jobs / (CONSUMERS * batch))), "-f", handle.name,
        "-h", str(info.get("host") or "localhost"), "-p", str(info.get("port") or 5432),
        "-U", str(info.get("user") or "postgres"), str(info.get("dbname")),
    ]  # fmt: skip
    try:
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=3600)
    finally:
        os.unlink(handle.name)
    return jobs


def _succeeded(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM workflow_steps WHERE state = 'succeeded'").fetchone()
    return int(row[0]) if row else 0


def throughput(
    url: str, db: ForgeDB, conn: Conn, repository_id: int, jobs: int, rounds: int
) -> list[dict[str, Any]]:
    """Every throughput row, ``rounds`` interleaved rounds of each."""
    runners = [
        db.workflows.register_runner(name=f"anchor-{i}", capacity=64) for i in range(CONSUMERS)
    ]
    shared = db.workflows.register_runner(name="anchor-pgbench", capacity=1024)
    scripts = {b: _pgbench_script(db, url, shared, b) for b in (1, 10)}

    def forge(work: Any) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            conn.execute("DELETE FROM workflow_runs")
            _fill(conn, repository_id, jobs)
            return _timed(url, lambda: _drain(url, runners, work, False))

        return run

    def pgbench(batch: int) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            conn.execute("DELETE FROM workflow_runs")
            _fill(conn, repository_id, jobs)
            row = _timed(url, lambda: _pgbench(url, scripts[batch], jobs, batch))
            row["jobs"] = _succeeded(conn)
            row["per_second"] = row["jobs"] / row["seconds"]
            return row

        return run

    def raw(batch: int) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            _raw_fill(conn, jobs)
            return _timed(url, lambda: _raw(url, batch))

        return run

    def forge_processes(batch: int) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            conn.execute("DELETE FROM workflow_runs")
            _fill(conn, repository_id, jobs)
            return _timed_in_processes(url, runners, batch)

        return run

    def raw_processes(batch: int) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            _raw_fill(conn, jobs)
            return _timed_in_processes(url, None, batch)

        return run

    modes: dict[str, Callable[[], dict[str, Any]]] = {
        "forge_db claim 1 + finish 1": forge(_forge_one),
        "forge_db claim 10 + finish 10": forge(_forge_batch),
        "raw FOR UPDATE SKIP LOCKED, claim 1 + complete 1": raw(1),
        "raw FOR UPDATE SKIP LOCKED, claim 10 + complete 10": raw(10),
        "forge_db claim 1 + finish 1, 8 processes": forge_processes(1),
        "forge_db claim 10 + finish 10, 8 processes": forge_processes(10),
        "raw FOR UPDATE SKIP LOCKED, claim 1 + complete 1, 8 processes": raw_processes(1),
        "raw FOR UPDATE SKIP LOCKED, claim 10 + complete 10, 8 processes": raw_processes(10),
        "pgbench, forge_db's claim 1 + finish 1 SQL": pgbench(1),
        "pgbench, forge_db's claim 10 + finish 10 SQL": pgbench(10),
        "pgqueuer, batch 1": lambda: _pgqueuer(url, jobs, 1),
        "pgqueuer, batch 10": lambda: _pgqueuer(url, jobs, 10),
        "procrastinate, concurrency 8": lambda: _procrastinate(url, jobs),
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in modes}
    for round_ in range(rounds):
        for name, run in modes.items():
            row = run()
            row["load_average"] = os.getloadavg()
            results[name].append(row)
            print(round_, name, round(row["per_second"]), row["load_average"], flush=True)
    return [
        {
            "name": name,
            "jobs": jobs,
            "per_second_median": statistics.median(r["per_second"] for r in rows),
            "wal_bytes_per_job_median": statistics.median(r["wal_bytes_per_job"] for r in rows),
            "rounds": rows,
        }
        for name, rows in results.items()
    ]


def _server_times(conn: Conn, db: ForgeDB, r: RegisteredRunner) -> dict[str, float]:
    query = db.workflows.runners.claim.query(r.runner.id, runner_token=r.token)
    assert isinstance(query.sql, str)
    plans, execs = [], []
    for _ in range(30):
        with conn.transaction(force_rollback=True):
            row = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query.sql, query.params
            ).fetchone()
        assert row is not None
        plans.append(row[0][0]["Planning Time"])
        execs.append(row[0][0]["Execution Time"])
    return {
        "planning_ms_median": statistics.median(plans),
        "execution_ms_median": statistics.median(execs),
    }


def latency(
    url: str, db: ForgeDB, conn: Conn, repository_id: int, rounds: int
) -> list[dict[str, Any]]:
    """Median claim latency with 1,000 and 100,000 pending, interleaved rounds."""
    one = db.workflows.register_runner(name="anchor-latency", capacity=4)
    rows: list[dict[str, Any]] = []
    for round_ in range(rounds):
        for backlog in (1_000, 100_000):
            conn.execute("DELETE FROM workflow_runs")
            conn.execute("VACUUM workflow_steps")
            _fill(conn, repository_id, backlog)
            timings = []
            with ForgeDB.connect(url, min_size=1, max_size=1) as own:
                for _ in range(200):
                    started = time.perf_counter()
                    step = own.workflows.claim_step(one.runner.id, runner_token=one.token)
                    timings.append(time.perf_counter() - started)
                    assert step is not None
                    own.workflows.finish_step(
                        step.id, runner_id=one.runner.id, runner_token=one.token,
                        token=step.fencing_token, outcome="succeeded",
                    )  # fmt: skip
            rows.append(
                {
                    "name": f"claim latency, {backlog} pending",
                    "round": round_,
                    "median_ms": 1000 * statistics.median(timings),
                    **_server_times(conn, db, one),
                    "load_average": os.getloadavg(),
                }
            )
            print(rows[-1], flush=True)
    return rows


def log_ingest(db: ForgeDB, conn: Conn, repository_id: int, owner_id: int) -> list[dict[str, Any]]:
    """Lines per second: one line per statement, arrays, and COPY, on the same 20,000 lines."""
    conn.execute("DELETE FROM workflow_runs")
    r = db.workflows.register_runner(name="anchor-logs", capacity=4)
    rows: list[dict[str, Any]] = []
    lines = [f"line {n} of the build output, as a runner writes it" for n in range(20_000)]
    threshold = log_module.COPY_FROM
    cases = [
        ("1 line per statement", 1, threshold),
        ("1,000 lines per statement, as an array", 1000, 10**9),
        ("1,000 lines per statement, by COPY", 1000, 1),
        ("10,000 lines per statement, as an array", 10_000, 10**9),
        ("10,000 lines per statement, by COPY", 10_000, 1),
    ]
    try:
        for name, size, copy_from in cases:
            run = db.workflows.start_run(repository_id, actor_id=owner_id, steps=[{"name": "l"}])
            step = db.workflows.claim_step(r.runner.id, runner_token=r.token)
            assert step is not None
            log_module.COPY_FROM = copy_from
            started = time.perf_counter()
            for start in range(0, len(lines), size):
                db.workflows.append_logs(
                    run.id, runner_id=r.runner.id, runner_token=r.token,
                    lines=lines[start : start + size],
                )  # fmt: skip
            elapsed = time.perf_counter() - started
            log_module.COPY_FROM = threshold
            db.workflows.finish_step(
                step.id, runner_id=r.runner.id, runner_token=r.token, token=step.fencing_token,
                outcome="succeeded",
            )  # fmt: skip
            rows.append(
                {
                    "name": f"log ingest, {name}",
                    "lines": len(lines),
                    "per_second": len(lines) / elapsed,
                    "load_average": os.getloadavg(),
                }
            )
            print(rows[-1], flush=True)
    finally:
        log_module.COPY_FROM = threshold
    return rows


def _install_anchors(url: str) -> None:
    from pgqueuer.queries import Queries

    async def install() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await Queries.from_psycopg_connection(conn).install()
        app = _procrastinate_app(url)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    asyncio.run(install())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_RAW_SCHEMA)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on a fresh database and write its results file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=["throughput", "latency", "logs"], action="append")
    parser.add_argument("--out", default=str(RESULTS / "2026-12-01-workflows-3.json"))
    args = parser.parse_args(argv)
    parts = args.only or ["throughput", "latency", "logs"]
    name = f"bench_anchors_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_dbname(args.url, name)
    output: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": machine(url),
        "consumers": CONSUMERS,
        "load_average_start": os.getloadavg(),
    }
    try:
        migrations.migrate(url)
        _install_anchors(url)
        with ForgeDB.connect(url) as db, psycopg.connect(url, autocommit=True) as conn:
            owner = db.users.create(username="bench")
            repo = db.repositories.create(owner_id=owner.id, name="bench")
            if "throughput" in parts:
                output["throughput"] = throughput(url, db, conn, repo.id, args.jobs, args.rounds)
            if "latency" in parts:
                output["latency"] = latency(url, db, conn, repo.id, args.rounds)
            if "logs" in parts:
                output["logs"] = log_ingest(db, conn, repo.id, owner.id)
        output["load_average_end"] = os.getloadavg()
        Path(args.out).write_text(json.dumps(output, indent=2, default=str) + "\n")
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
