"""Why a deep keyset page costs more than the first: ``python -m bench.deep_pages``.

One process, one server (a fresh embedded PostgreSQL unless ``--url``), the benchmark's data
set with one repository of ``--size`` issues. The list of open ``bug`` issues, 50 a page, is
walked to its 100th page; the first and the 100th page are then fetched, interleaved in rounds,
six ways: forge_db as configured by default (prepared after 2 executions), forge_db with
prepared statements off, forge_db forced onto custom plans, and raw psycopg running the very
statement prepared after 5 executions (psycopg's default, the benchmark's baseline),
unprepared, and forced onto the generic plan. For both pages the plans are recorded too:
``EXPLAIN (ANALYZE, BUFFERS)`` once with the custom plan (the values known) and once with the
generic plan that a prepared statement may settle on after five executions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from forge_db import ForgeDB, embedded, migrations
from forge_db.config import with_dbname
from forge_db.issues import Issues

from . import data
from .run import RESULTS, Row, latency, machine, sync_batch, table


def _plan(conn: psycopg.Connection[Any], sql: Any, params: Any, mode: str) -> dict[str, Any]:
    assert isinstance(sql, str), "the list statement is plain text"
    conn.execute(f"SET plan_cache_mode = {mode}")
    try:
        row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
    finally:
        conn.execute("RESET plan_cache_mode")
    assert row is not None
    doc = row[0]
    top = doc[0]
    nodes: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        index = f" using {node['Index Name']}" if "Index Name" in node else ""
        nodes.append(
            f"{'  ' * depth}{node['Node Type']}{index} rows={node.get('Actual Rows')} "
            f"loops={node.get('Actual Loops')} time={node.get('Actual Total Time')}"
        )
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(top["Plan"], 0)
    return {
        "planning_ms": top.get("Planning Time"),
        "execution_ms": top.get("Execution Time"),
        "shared_hit_blocks": top["Plan"].get("Shared Hit Blocks"),
        "shared_read_blocks": top["Plan"].get("Shared Read Blocks"),
        "nodes": nodes,
    }


def run(url: str, size: int, iterations: int) -> dict[str, Any]:
    """Load the data set into ``url`` and measure both pages six ways."""
    dataset = data.load(url, big_sizes=(size,))
    (repo,) = dataset.list_repos.values()
    dbs = {
        "forge_db": ForgeDB.connect(url, min_size=1, max_size=1),
        "forge_db unprepared": ForgeDB.connect(
            url, min_size=1, max_size=1, prepared_statements=False
        ),
    }
    custom = psycopg.connect(url, autocommit=True, options="-c plan_cache_mode=force_custom_plan")
    conns = {
        "raw psycopg": psycopg.connect(url, autocommit=True),
        "raw psycopg unprepared": psycopg.connect(url, autocommit=True, prepare_threshold=None),
        "raw psycopg generic plan": psycopg.connect(
            url, autocommit=True, options="-c plan_cache_mode=force_generic_plan"
        ),
    }
    forced = ForgeDB.connect(url, min_size=1, max_size=1)
    rows: list[Row] = []
    plans: dict[str, Any] = {}
    try:
        db = dbs["forge_db"]
        cursor = None
        for _ in range(99):
            cursor = db.issues.list(repo, labels=["bug"], limit=50, cursor=cursor).next_cursor
        assert cursor is not None, "the data set holds fewer than 100 pages"
        with forced.connection() as conn:
            conn.execute("SET plan_cache_mode = force_custom_plan")
        for page, page_cursor in (("first", None), ("100th", cursor)):
            workload = f"list 50 open bug issues, {page} page, {size:,} issues"
            query = Issues.list.query(db.issues, repo, labels=["bug"], limit=50, cursor=page_cursor)
            plans[page] = {
                "custom": _plan(custom, query.sql, query.params, "force_custom_plan"),
                "generic": _plan(custom, query.sql, query.params, "force_generic_plan"),
            }

            def forge(handle: ForgeDB, c: str | None = page_cursor) -> Callable[[int], Any]:
                return lambda i: handle.issues.list(repo, labels=["bug"], limit=50, cursor=c)

            def raw(conn: psycopg.Connection[Any], q: Any = query) -> Callable[[int], Any]:
                return lambda i: conn.execute(q.sql, q.params).fetchall()

            batches = {name: sync_batch(forge(handle)) for name, handle in dbs.items()}
            batches["forge_db custom plans"] = sync_batch(forge(forced))
            batches.update({name: sync_batch(raw(conn)) for name, conn in conns.items()})
            rows += latency(workload, batches, iterations)
    finally:
        for handle in (*dbs.values(), forced):
            handle.close()
        for conn in (custom, *conns.values()):
            conn.close()
    by_key = {(row.workload.split(",")[1].strip(), row.implementation): row for row in rows}
    for row in rows:
        first = by_key.get(("first page", row.implementation))
        if first is not None and row is not first:
            row.ratios["/ its first page"] = row.median / first.median
    return {"rows": rows, "plans": plans, "loaded_in": dataset.seconds}


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, print the table and save the results file."""
    parser = argparse.ArgumentParser(prog="python -m bench.deep_pages", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--size", type=int, default=1_000_000, help="issues in the repository")
    parser.add_argument("--iterations", type=int, default=300, help="calls per latency row")
    parser.add_argument("--output", type=Path, default=None, help="results file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="forge-bench-", dir="/tmp") as scratch:
        server_url = args.url or embedded.ensure_server(Path(scratch) / "pg").url
        name = f"forge_bench_deep_{os.getpid()}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = with_dbname(server_url, name)
        try:
            migrations.migrate(url)
            load_before = os.getloadavg()
            result = run(url, args.size, args.iterations)
            report = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(url),
                "load_average": {"before": load_before, "after": os.getloadavg()},
                "seconds": round(time.monotonic() - started, 1),
                "rows": [asdict(row) for row in result["rows"]],
                "plans": result["plans"],
            }
            output = args.output or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-deep-pages.json"
            output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            print(table(result["rows"]))
            for page, kinds in result["plans"].items():
                for kind, plan in kinds.items():
                    print(f"\n{page} page, {kind} plan: {plan['execution_ms']} ms", file=sys.stderr)
                    print("\n".join(plan["nodes"]), file=sys.stderr)
            print(f"\n{report['seconds']} s; results in {output}", file=sys.stderr)
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
