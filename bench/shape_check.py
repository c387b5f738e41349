"""The per-call cost of a release against an earlier one, side by side in one process.

``python -m bench.shape_check --before PATH`` imports the forge_db of another checkout (for
example ``git worktree add /tmp/before <commit>``) under the name ``forge_db_before`` beside
this one, loads one data set on one server (a fresh embedded PostgreSQL unless ``--url``), and
times the same calls through raw psycopg, the earlier forge_db and this one, interleaved in
rounds so that the machine's noise falls on all alike. It reports each one's median and its
ratio to raw psycopg running the very statement this forge_db sends, built before the clock
starts.

It measured the input vocabulary (arguments checked against their annotations by pydantic in
strict mode) against the hand-written checks it replaced; run it again for any change that may
cost per call.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg

from forge_db import AsyncForgeDB, ForgeDB, embedded, migrations
from forge_db.config import with_dbname

from . import data
from .run import RESULTS, Batch, Row, async_batch, latency, machine, sync_batch

ROUNDS = 20


def load_before(path: Path) -> ModuleType:
    """The forge_db package of the checkout at ``path``, imported as ``forge_db_before``."""
    package = path / "forge_db"
    spec = importlib.util.spec_from_file_location(
        "forge_db_before", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"no forge_db package under {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["forge_db_before"] = module
    spec.loader.exec_module(module)
    return module


class Calls:
    """The same four calls through every implementation, on one data set."""

    def __init__(self, url: str, dataset: data.Dataset, before: ModuleType) -> None:
        self.url = url
        self.data = dataset
        self.raw = psycopg.connect(url, autocommit=True)
        self.loop = asyncio.new_event_loop()
        self.now = ForgeDB.connect(url, min_size=1, max_size=2)
        self.now_async = self.loop.run_until_complete(
            AsyncForgeDB.connect(url, min_size=1, max_size=2)
        )
        self.then = before.ForgeDB.connect(url, min_size=1, max_size=2)
        self.then_async = self.loop.run_until_complete(
            before.AsyncForgeDB.connect(url, min_size=1, max_size=2)
        )
        self.rows: list[Row] = []

    def close(self) -> None:
        for db in (self.now, self.then):
            db.close()
        self.loop.run_until_complete(self.now_async.close())
        self.loop.run_until_complete(self.then_async.close())
        self.loop.close()
        self.raw.close()

    def raw_op(self, queries: list[Any]) -> Batch:
        def run(i: int) -> Any:
            query = queries[i % len(queries)]
            return self.raw.execute(query.sql, query.params).fetchall()

        return sync_batch(run)

    def measure(self, workload: str, batches: dict[str, Batch], iterations: int) -> None:
        rows = latency(workload, batches, iterations, rounds=ROUNDS)
        raw = next(r for r in rows if r.implementation == "raw psycopg")
        for row in rows:
            if row is not raw:
                row.ratios["/ raw psycopg"] = row.median / raw.median
            print(
                f"  {workload:<38} {row.implementation:<22} {row.median:9.1f} µs", file=sys.stderr
            )
        self.rows += rows

    def run(self, iterations: int) -> None:
        tokens = self.data.session_tokens
        repo = self.data.list_repos["10000"]
        small = self.data.small_repos[0]
        author = self.data.user_ids[0]
        n = iterations + 1

        self.measure(
            "session lookup by token",
            {
                "raw psycopg": self.raw_op(
                    [self.now.auth.get_session.query(tokens[i % len(tokens)]) for i in range(n)]
                ),
                "before": sync_batch(lambda i: self.then.auth.get_session(tokens[i % len(tokens)])),
                "now": sync_batch(lambda i: self.now.auth.get_session(tokens[i % len(tokens)])),
                "before async": async_batch(
                    self.loop, lambda i: self.then_async.auth.get_session(tokens[i % len(tokens)])
                ),
                "now async": async_batch(
                    self.loop, lambda i: self.now_async.auth.get_session(tokens[i % len(tokens)])
                ),
            },
            iterations,
        )

        def number(i: int) -> int:
            return 1 + (i * 7919) % 10000

        self.measure(
            "get issue with labels and reactions",
            {
                "raw psycopg": self.raw_op(
                    [self.now.issues.get.query(repo, number(i)) for i in range(n)]
                ),
                "before": sync_batch(lambda i: self.then.issues.get(repo, number(i))),
                "now": sync_batch(lambda i: self.now.issues.get(repo, number(i))),
                "before async": async_batch(
                    self.loop, lambda i: self.then_async.issues.get(repo, number(i))
                ),
                "now async": async_batch(
                    self.loop, lambda i: self.now_async.issues.get(repo, number(i))
                ),
            },
            iterations,
        )
        self.measure(
            "list 50 open bug issues, first page",
            {
                "raw psycopg": self.raw_op(
                    [self.now.issues.list.query(repo, labels=["bug"], limit=50)]
                ),
                "before": sync_batch(
                    lambda i: self.then.issues.list(repo, labels=["bug"], limit=50)
                ),
                "now": sync_batch(lambda i: self.now.issues.list(repo, labels=["bug"], limit=50)),
                "before async": async_batch(
                    self.loop, lambda i: self.then_async.issues.list(repo, labels=["bug"], limit=50)
                ),
                "now async": async_batch(
                    self.loop, lambda i: self.now_async.issues.list(repo, labels=["bug"], limit=50)
                ),
            },
            max(100, iterations // 5),
        )
        labels = ["bug", "docs"]
        self.measure(
            "create issue with 2 labels",
            {
                "raw psycopg": self.raw_op(
                    [
                        self.now.issues.create.query(
                            small, actor_id=author, title="benchmark issue", labels=labels
                        )
                        for _ in range(n // 3 + 1)
                    ]
                ),
                "before": sync_batch(
                    lambda i: self.then.issues.create(
                        repository_id=small,
                        author_id=author,
                        title="benchmark issue",
                        labels=labels,
                    )
                ),
                "now": sync_batch(
                    lambda i: self.now.issues.create(
                        small, actor_id=author, title="benchmark issue", labels=labels
                    )
                ),
                "before async": async_batch(
                    self.loop,
                    lambda i: self.then_async.issues.create(
                        repository_id=small,
                        author_id=author,
                        title="benchmark issue",
                        labels=labels,
                    ),
                ),
                "now async": async_batch(
                    self.loop,
                    lambda i: self.now_async.issues.create(
                        small, actor_id=author, title="benchmark issue", labels=labels
                    ),
                ),
            },
            iterations // 3,
        )


def main(argv: list[str] | None = None) -> int:
    """Measure the calls, print a table, write ``bench/results/<date>-shape.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.shape_check", description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the earlier code")
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--iterations", type=int, default=4000)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    before = load_before(args.before.resolve())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="forge-shape-", dir="/tmp") as scratch:
        server_url = args.url or embedded.ensure_server(Path(scratch) / "pg").url
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute('CREATE DATABASE "forge_shape_check"')
        url = with_dbname(server_url, "forge_shape_check")
        try:
            migrations.migrate(url)
            dataset = data.load(url, big_sizes=(10_000,))
            calls = Calls(url, dataset, before)
            try:
                calls.run(args.iterations)
            finally:
                calls.close()
            report = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "what": "per-call cost: this forge_db against the checkout given as --before",
                "before": str(args.before),
                "machine": machine(url),
                "rounds": ROUNDS,
                "seconds": round(time.monotonic() - started, 1),
                "rows": [asdict(row) for row in calls.rows],
            }
            output = args.output or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-shape.json"
            output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            print(f"results in {output}", file=sys.stderr)
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute('DROP DATABASE IF EXISTS "forge_shape_check" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    for row in calls.rows:
        ratio = row.ratios.get("/ raw psycopg")
        shown = f"{ratio:.2f}×" if ratio else ""
        print(f"| {row.workload} | {row.implementation} | {row.median:,.1f} µs | {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
