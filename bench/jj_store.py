"""The jj store's bulk paths and lookups: ``python -m bench.jj_store [--url URL]``.

One process, one server (``--url``: a server to make a scratch database on), each figure
against a baseline run side by side:

- operation ingest: ``db.jj.record_operations`` (COPY) against row-by-row ``INSERT`` of the
  same operations over raw psycopg, in one transaction, in operations per second;
- ``put_blobs`` of 1,000 x 4 KiB against a raw ``COPY`` of the same bytes into ``blobs``, MB/s;
- ``resolve_change`` and ``shortest_prefixes`` of a page of 50 at 10,000 and at 1,000,000
  changes: median latency, and the ratio of the two;
- ``missing_blobs`` for 10,000 hashes: one statement, its median latency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from forge_db import ForgeDB
from forge_db.config import with_dbname
from forge_db.jj import OperationRecord

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


def _blobs(db: ForgeDB, raw: psycopg.Connection[Any], repo: int, actor: int) -> dict[str, Any]:
    megabytes = 1000 * 4096 / 1e6
    ours, theirs = [], []
    for _ in range(5):
        contents = [secrets.token_bytes(4096) for _ in range(1000)]
        start = time.perf_counter()
        assert db.jj.put_blobs(repo, contents, actor_id=actor).created == 1000
        ours.append(time.perf_counter() - start)
        contents = [secrets.token_bytes(4096) for _ in range(1000)]
        start = time.perf_counter()
        with (
            raw.transaction(),
            raw.cursor().copy("COPY blobs (hash, content) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["bytea", "bytea"])
            for content in contents:
                copy.write_row((hashlib.sha256(content).digest(), content))
        theirs.append(time.perf_counter() - start)
    ours_mb, raw_mb = megabytes / statistics.median(ours), megabytes / statistics.median(theirs)
    return {
        "put_blobs_mb_per_s": round(ours_mb, 1),
        "raw_copy_mb_per_s": round(raw_mb, 1),
        "fraction_of_raw": round(ours_mb / raw_mb, 2),
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
            results = {
                "server_version": server[0] if server else "",
                "operation_ingest": _ingest(db, raw, repo, actor, args.operations),
                "put_blobs_1000x4KiB": _blobs(db, raw, repo, actor),
                "missing_blobs": _negotiation(db, repo, actor),
                "prefix_lookups": _lookups(db, raw, actor),
            }
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
