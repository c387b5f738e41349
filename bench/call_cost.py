"""What one call costs the client, part by part: ``python -m bench.call_cost``.

One process, one server (a fresh embedded PostgreSQL unless ``--url``). Two single-row
workloads, ``db.issues.get`` (a read) and ``db.auth.get_session`` (a write: it slides the
expiry), each run four ways, interleaved in rounds: forge_db sync, raw psycopg sync (the very
statement, built before the clock starts, tuple rows), forge_db async and raw psycopg async.

Wall-clock medians on a shared machine swing with the neighbours, so the client's own work is
also counted in CPU time (``time.process_time``: this process only, the server excluded), and
the part of forge_db's CPU time that raw psycopg does not spend is split into its steps, each
timed alone over many repetitions: the attribute lookup, the argument checks with the
statement's building, the pool checkout and return, and the rows turned into models.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from forge_db import AsyncForgeDB, ForgeDB, embedded, migrations, pooling
from forge_db.auth import Auth
from forge_db.config import with_dbname
from forge_db.issues import Issues
from forge_db.query import Result, _columns

RESULTS = Path(__file__).with_name("results")


def _per_call(run: Callable[[int], Any], n: int) -> tuple[float, float]:
    """(median wall µs, mean CPU µs) of ``run(i)`` over ``n`` calls."""
    walls = []
    cpu = time.process_time()
    for i in range(n):
        start = time.perf_counter_ns()
        run(i)
        walls.append(time.perf_counter_ns() - start)
    cpu = time.process_time() - cpu
    return statistics.median(walls) / 1000, cpu / n * 1e6


def _per_call_async(
    loop: asyncio.AbstractEventLoop, run: Callable[[int], Awaitable[Any]], n: int
) -> tuple[float, float]:
    async def timed() -> tuple[float, float]:
        walls = []
        cpu = time.process_time()
        for i in range(n):
            start = time.perf_counter_ns()
            await run(i)
            walls.append(time.perf_counter_ns() - start)
        cpu = time.process_time() - cpu
        return statistics.median(walls) / 1000, cpu / n * 1e6

    return loop.run_until_complete(timed())


def _steps(db: ForgeDB, build: Callable[[], Any], n: int) -> dict[str, float]:
    """CPU µs of each step of a forge_db call that raw psycopg does not take."""
    query = build()
    with db.connection() as conn:
        cursor = conn.execute(query.sql, query.params)
        result = Result(cursor.fetchall(), _columns(cursor) or (), cursor.rowcount)

    def cpu(step: Callable[[], Any]) -> float:
        start = time.process_time()
        for _ in range(n):
            step()
        return (time.process_time() - start) / n * 1e6

    namespace = db.issues
    return {
        "attribute lookup (db.issues.get)": cpu(lambda: namespace.get),
        "argument checks and statement": cpu(build),
        "pool checkout and return": cpu(lambda: _checkout(db)),
        "rows to models": cpu(lambda: query.shape.convert(result)),
    }


def _checkout(db: ForgeDB) -> None:
    conn = pooling.getconn(db.pool, 10)
    db.pool.putconn(conn)


def run(url: str, iterations: int, rounds: int) -> dict[str, Any]:
    """Every workload, every implementation, interleaved; the step costs."""
    db = ForgeDB.connect(url, min_size=1, max_size=4)
    raw = psycopg.connect(url, autocommit=True)
    loop = asyncio.new_event_loop()
    adb = loop.run_until_complete(AsyncForgeDB.connect(url, min_size=1, max_size=4))
    araw = loop.run_until_complete(psycopg.AsyncConnection.connect(url, autocommit=True))
    try:
        owner = db.users.create(username=f"cost{os.getpid()}")
        repo = db.repositories.create(owner_id=owner.id, name="cost")
        db.issues.labels.create(repo.id, actor_id=owner.id, name="bug")
        issue = db.issues.create(repo.id, actor_id=owner.id, title="cost", labels=["bug"])
        token = secrets.token_urlsafe(32)
        raw.execute(
            "INSERT INTO auth_sessions (user_id, token_digest, expires_at, absolute_expires_at, "
            "idle_timeout) VALUES (%s, %s, now() + interval '6 days', now() + interval '30 days', "
            "interval '7 days')",
            (owner.id, hashlib.sha256(token.encode()).digest()),
        )
        workloads: dict[str, tuple[Callable[[ForgeDB | AsyncForgeDB], Any], Callable[[], Any]]] = {
            "get issue (a read)": (
                lambda d: d.issues.get(repo.id, issue.number),
                lambda: Issues.get.query(db.issues, repo.id, issue.number),
            ),
            "session lookup (a write)": (
                lambda d: d.auth.get_session(token),
                lambda: Auth.get_session.query(db.auth, token),
            ),
        }
        report: dict[str, Any] = {}
        for name, (call, build) in workloads.items():
            query = build()

            def raw_call(i: int, q: Any = query) -> Any:
                return raw.execute(q.sql, q.params).fetchall()

            async def araw_call(i: int, q: Any = query) -> Any:
                return await (await araw.execute(q.sql, q.params)).fetchall()

            def ours(n: int, c: Any = call) -> tuple[float, float]:
                return _per_call(lambda i: c(db), n)

            def theirs(n: int, f: Any = raw_call) -> tuple[float, float]:
                return _per_call(f, n)

            def ours_async(n: int, c: Any = call) -> tuple[float, float]:
                return _per_call_async(loop, lambda i: c(adb), n)

            def theirs_async(n: int, f: Any = araw_call) -> tuple[float, float]:
                return _per_call_async(loop, f, n)

            impls: dict[str, Callable[[int], tuple[float, float]]] = {
                "forge_db": ours,
                "raw psycopg": theirs,
                "forge_db async": ours_async,
                "raw psycopg async": theirs_async,
            }
            samples: dict[str, list[tuple[float, float]]] = {k: [] for k in impls}
            for measure in impls.values():
                measure(max(10, iterations // 10))  # warm up: prepared statements, caches
            for _ in range(rounds):
                for impl, measure in impls.items():
                    samples[impl].append(measure(iterations // rounds))
            rows = {
                impl: {
                    "median_us": statistics.median(w for w, _ in values),
                    "cpu_us": statistics.median(c for _, c in values),
                }
                for impl, values in samples.items()
            }
            for mine, base in (
                ("forge_db", "raw psycopg"),
                ("forge_db async", "raw psycopg async"),
            ):
                rows[mine]["vs_raw"] = rows[mine]["median_us"] / rows[base]["median_us"]
                rows[mine]["cpu_over_raw_us"] = rows[mine]["cpu_us"] - rows[base]["cpu_us"]
            report[name] = rows
        report["steps (get issue, sync, CPU µs)"] = _steps(
            db, workloads["get issue (a read)"][1], iterations * 10
        )
        return report
    finally:
        loop.run_until_complete(araw.close())
        loop.run_until_complete(adb.close())
        loop.close()
        raw.close()
        db.close()


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and save under ``--label`` in the results file (kept across runs)."""
    parser = argparse.ArgumentParser(prog="python -m bench.call_cost", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--label", default="after", help="key of this run in the results file")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "2026-12-01-call-cost.json", help="results file"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="forge-cost-", dir="/tmp") as scratch:
        server_url = args.url or embedded.ensure_server(Path(scratch) / "pg").url
        name = f"forge_cost_{os.getpid()}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
            version = admin.execute("SHOW server_version").fetchone()
        try:
            url = with_dbname(server_url, name)
            migrations.migrate(url)
            report = run(url, args.iterations, args.rounds)
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    saved = json.loads(args.output.read_text()) if args.output.exists() else {}
    saved[args.label] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": version[0] if version else None,
        "psycopg": psycopg.__version__,
        "iterations": args.iterations,
        "results": report,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n")
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
