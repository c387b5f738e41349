"""The jj store's bulk paths and lookups: ``python -m bench.jj_store [--url URL]``.

One process, one server (``--url``: a server to make a scratch database on), each figure
against a baseline run side by side:

- operation ingest: ``db.jj.record_operations`` (COPY) against row-by-row ``INSERT`` of the
  same operations over raw psycopg, in one transaction, in operations per second;
- ``put_blobs`` of 1,000 x 4 KiB against the baseline, in MB/s. The baseline is one
  transaction that computes each SHA-256 in Python and sends the same 1,000 (hash, content)
  rows by ``COPY ... (FORMAT BINARY)`` straight into ``blobs`` (the same table, so the same
  shape: its primary key, its ``hash = sha256(content)`` check, its generated size and its
  TOAST), then commits. It neither dedupes, nor links the blobs to a repository
  (``repository_blobs`` and its two foreign keys), nor checks access. Both sides get fresh
  random contents each run; ``--runs`` pairs are timed alternately and the medians compared.
  ``profile`` times each step of a ``put_blobs`` of new blobs (the direct path: the savepoint,
  the ``COPY`` into ``blobs``, the statement that links them, the release, the commit) and
  reports where ``EXPLAIN ANALYZE`` puts the statement's time;
- ``resolve_change`` and ``shortest_prefixes`` of a page of 50 at 10,000 and at 1,000,000
  changes: median latency, and the ratio of the two;
- ``missing_blobs`` for 10,000 hashes: one statement, its median latency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import ClientCursor, sql
from psycopg.types.json import Jsonb

from forge_db import ForgeDB
from forge_db.config import with_dbname
from forge_db.jj import Blobs, OperationRecord

from .run import RESULTS

SCHEMA = Path(__file__).resolve().parent.parent / "db" / "schema.sql"
LETTERS = "zyxwvutsrqponmlk"


def _median_ms(work: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _chain(count: int) -> list[OperationRecord]:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    records: list[OperationRecord] = []
    parents: list[str] = []
    for n in range(count):
        record = OperationRecord(
            operation_id=secrets.token_hex(64),
            parent_operation_ids=parents,
            view_id=secrets.token_hex(64),
            description=f"operation {n}",
            started_at=moment + timedelta(seconds=n),
            ended_at=moment + timedelta(seconds=n),
        )
        records.append(record)
        parents = [record.operation_id]
    return records


def _ingest(
    db: ForgeDB, raw: psycopg.Connection[Any], repo: int, actor: int, n: int
) -> dict[str, Any]:
    bulk = _chain(n)
    start = time.perf_counter()
    assert db.jj.record_operations(repo, bulk, actor_id=actor) == n
    bulk_rate = n / (time.perf_counter() - start)
    rows = n // 10
    single = _chain(rows)
    start = time.perf_counter()
    with raw.transaction():
        for r in single:
            raw.execute(
                "INSERT INTO jj_operations (repository_id, operation_id, parent_operation_ids, "
                "view_id, metadata, started_at, ended_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    repo,
                    r.operation_id,
                    r.parent_operation_ids,
                    r.view_id,
                    Jsonb({"description": r.description}),
                    r.started_at,
                    r.ended_at,
                ),
                prepare=True,
            )
    row_rate = rows / (time.perf_counter() - start)
    return {
        "bulk_operations_per_s": round(bulk_rate),
        "row_by_row_operations_per_s": round(row_rate),
        "ratio": round(bulk_rate / row_rate, 1),
        "bulk_batch": n,
        "row_by_row_rows": rows,
    }


def _raw_copy(raw: psycopg.Connection[Any], contents: list[bytes]) -> None:
    """The baseline: the same bytes by ``COPY`` straight into ``blobs``, in one transaction."""
    with (
        raw.transaction(),
        raw.cursor().copy("COPY blobs (hash, content) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["bytea", "bytea"])
        for content in contents:
            copy.write_row((hashlib.sha256(content).digest(), content))


def _blobs(
    db: ForgeDB, raw: psycopg.Connection[Any], repo: int, actor: int, runs: int
) -> dict[str, Any]:
    megabytes = 1000 * 4096 / 1e6
    ours, theirs = [], []
    for _ in range(runs):
        contents = [secrets.token_bytes(4096) for _ in range(1000)]
        start = time.perf_counter()
        assert db.jj.put_blobs(repo, contents, actor_id=actor).created == 1000
        ours.append(time.perf_counter() - start)
        contents = [secrets.token_bytes(4096) for _ in range(1000)]
        start = time.perf_counter()
        _raw_copy(raw, contents)
        theirs.append(time.perf_counter() - start)
    ours_mb, raw_mb = megabytes / statistics.median(ours), megabytes / statistics.median(theirs)
    return {
        "runs": runs,
        "put_blobs_mb_per_s": round(ours_mb, 1),
        "raw_copy_mb_per_s": round(raw_mb, 1),
        "fraction_of_raw": round(ours_mb / raw_mb, 2),
        "put_blobs_ms": [round(t * 1000, 1) for t in ours],
        "raw_copy_ms": [round(t * 1000, 1) for t in theirs],
        "profile": _profile(db, raw, repo, actor, runs),
    }


def _plan_times(node: dict[str, Any], found: dict[str, float]) -> None:
    """The inclusive time of each data-modifying node of a plan, by what it changes."""
    if node.get("Node Type") in ("ModifyTable", "Delete", "Insert"):
        key = f"{node.get('Operation', node['Node Type']).lower()} {node.get('Relation Name')}"
        found[key] = round(found.get(key, 0.0) + node["Actual Total Time"], 1)
    if node.get("Node Type") == "LockRows":
        found["lock existing blobs"] = round(node["Actual Total Time"], 1)
    if node.get("Node Type") == "Sort":
        key = f"sort ({node.get('Sort Method', '')})"
        found[key] = round(found.get(key, 0.0) + node["Actual Total Time"], 1)
    for child in node.get("Plans", []):
        _plan_times(child, found)


def _profile(
    db: ForgeDB, raw: psycopg.Connection[Any], repo: int, actor: int, runs: int
) -> dict[str, Any]:
    """``put_blobs`` of new blobs step by step over raw psycopg, as the runner sends it.

    The direct path (what a put of new blobs takes): the savepoint, the ``COPY`` straight into
    ``blobs``, the statement that checks access and links the blobs, the savepoint's release,
    the commit; every other run the statement is timed by ``EXPLAIN ANALYZE`` instead (and the
    transaction rolled back).
    """
    namespace = db.jj.blobs
    steps: dict[str, list[float]] = {
        "savepoint": [],
        "copy": [],
        "statement": [],
        "release": [],
        "commit": [],
    }
    plans: list[dict[str, float]] = []
    for n in range(runs):
        contents = [secrets.token_bytes(4096) for _ in range(1000)]
        query = Blobs.put_many.query(namespace, repo, contents, actor_id=actor)
        assert query.copy is not None
        direct = query.copy.direct
        assert direct is not None
        marks = [time.perf_counter()]
        with raw.transaction() as transaction:
            cursor = raw.cursor()
            cursor.execute("SAVEPOINT profile")
            marks.append(time.perf_counter())
            with cursor.copy(direct.statement) as stream:
                stream.set_types(query.copy.types)
                for row in query.copy.rows:
                    stream.write_row(row)
            marks.append(time.perf_counter())
            if n % 2:
                text = ClientCursor(raw).mogrify(direct.follow, direct.params)
                plan = cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {text}").fetchone()
                assert plan is not None
                found: dict[str, float] = {}
                _plan_times(plan[0][0]["Plan"], found)
                for trigger in plan[0][0].get("Triggers", []):
                    name = trigger.get("Constraint Name", trigger["Trigger Name"])
                    found[f"trigger {name}"] = round(trigger["Time"], 1)
                found["execution"] = round(plan[0][0]["Execution Time"], 1)
                plans.append(found)
                raise psycopg.Rollback(transaction)
            cursor.execute(direct.follow, direct.params)
            cursor.fetchall()
            marks.append(time.perf_counter())
            cursor.execute("RELEASE SAVEPOINT profile")
            marks.append(time.perf_counter())
        if not n % 2:  # a run explained stops timing at its COPY: the rest is EXPLAIN's
            marks.append(time.perf_counter())
        for name, begin, end in zip(steps, marks, marks[1:], strict=False):
            steps[name].append((end - begin) * 1000)
    return {
        "median_ms": {name: round(statistics.median(v), 1) for name, v in steps.items() if v},
        "explain_analyze_median_ms": {
            key: round(statistics.median(p[key] for p in plans if key in p), 1)
            for key in sorted({k for p in plans for k in p})
        },
    }


def _changes(raw: psycopg.Connection[Any], repo: int, count: int) -> list[str]:
    """``count`` random changes made by the server (ids as jj shows them), in batches."""
    for start in range(0, count, 100_000):
        raw.execute(
            "INSERT INTO changes (repository_id, change_id, commit_id, authored_at, committed_at) "
            "SELECT %s, translate(md5(random()::text), "
            "'0123456789abcdef', %s)::text, left(md5(random()::text) || md5(random()::text), 40), "
            "now(), now() FROM generate_series(1, %s)",
            (repo, LETTERS, min(100_000, count - start)),
        )
    raw.execute("ANALYZE changes")
    rows = raw.execute(
        "SELECT change_id FROM changes WHERE repository_id = %s ORDER BY random() LIMIT 50",
        (repo,),
    ).fetchall()
    return [r[0][:32] for r in rows]


def _lookups(db: ForgeDB, raw: psycopg.Connection[Any], actor: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for size in (10_000, 1_000_000):
        repo = db.repositories.create(owner_id=actor, name=f"size-{size}").id
        page = _changes(raw, repo, size)
        found[str(size)] = {
            "resolve_change_ms": round(
                _median_ms(lambda: db.jj.resolve_change(repo, page[0][:12]), 300), 3
            ),
            "shortest_prefixes_50_ms": round(
                _median_ms(lambda: db.jj.shortest_prefixes(repo, page), 300), 3
            ),
        }
    small, large = found["10000"], found["1000000"]
    found["ratio_1m_to_10k"] = {k: round(large[k] / small[k], 2) for k in small}
    return found


def _negotiation(db: ForgeDB, repo: int, actor: int) -> dict[str, Any]:
    have = db.jj.put_blobs(repo, [f"f{n}".encode() for n in range(5000)], actor_id=actor).hashes
    asked = have + [secrets.token_hex(32) for _ in range(5000)]
    assert len(db.jj.missing_blobs(repo, asked)) == 5000
    return {
        "hashes": len(asked),
        "round_trips": 1,
        "missing_blobs_ms": round(_median_ms(lambda: db.jj.missing_blobs(repo, asked), 30), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the jj store benchmarks; write ``bench/results/<date>-jj-store.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.jj_store", description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--operations", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5, help="put_blobs/COPY pairs to time")
    parser.add_argument(
        "--only",
        choices=("all", "blobs"),
        default="all",
        help="blobs: only put_blobs against COPY (the machine is shared; the rest is slow)",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    name = f"forge_db_bench_jj_{secrets.token_hex(4)}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(args.url, name)
    try:
        with psycopg.connect(url, autocommit=True) as raw:
            raw.execute(SCHEMA.read_text())
            server = raw.execute("SHOW server_version").fetchone()
        with (
            ForgeDB.connect(url, statement_timeout=None) as db,
            psycopg.connect(url, autocommit=True) as raw,
        ):
            actor = db.users.create(username="bench").id
            repo = db.repositories.create(owner_id=actor, name="bench").id
            results: dict[str, Any] = {
                "server_version": server[0] if server else "",
                "load_average_before": list(os.getloadavg()),
            }
            if args.only == "all":
                results["operation_ingest"] = _ingest(db, raw, repo, actor, args.operations)
            results["put_blobs_1000x4KiB"] = _blobs(db, raw, repo, actor, args.runs)
            if args.only == "all":
                results["missing_blobs"] = _negotiation(db, repo, actor)
                results["prefix_lookups"] = _lookups(db, raw, actor)
            results["load_average_after"] = list(os.getloadavg())
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    output = args.output or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-jj-store.json"
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
