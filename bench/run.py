"""Run the workloads against their baselines, side by side in one process, and report ratios."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from forge_db import AsyncForgeDB, ForgeDB, embedded, migrations
from forge_db.auth import Auth
from forge_db.bouncer import PGBOUNCER, running_pgbouncer
from forge_db.config import with_dbname
from forge_db.ethereum import SiweMessage, checksum_address, format_siwe_message, recover_signer
from forge_db.issues import Issues

from . import data, orm

RESULTS = Path(__file__).with_name("results")

Batch = Callable[[int], list[int]]  # run n operations, return each one's duration in ns


@dataclass
class Row:
    """One implementation of one workload: latency (µs) or throughput (ops/s)."""

    workload: str
    implementation: str
    unit: str
    median: float
    p99: float | None = None
    ratios: dict[str, float] = field(default_factory=dict)


# --- measuring ---------------------------------------------------------------------------------


def sync_batch(operation: Callable[[int], Any]) -> Batch:
    """Time ``operation(i)`` once per ``i``."""

    def run(n: int) -> list[int]:
        out = []
        for i in range(n):
            start = time.perf_counter_ns()
            operation(i)
            out.append(time.perf_counter_ns() - start)
        return out

    return run


def async_batch(
    loop: asyncio.AbstractEventLoop, operation: Callable[[int], Awaitable[Any]]
) -> Batch:
    """Time ``await operation(i)`` inside one event loop run per batch."""

    async def timed(n: int) -> list[int]:
        out = []
        for i in range(n):
            start = time.perf_counter_ns()
            await operation(i)
            out.append(time.perf_counter_ns() - start)
        return out

    return lambda n: loop.run_until_complete(timed(n))


def latency(
    workload: str, batches: dict[str, Batch], iterations: int, rounds: int = 5
) -> list[Row]:
    """Interleave the implementations in rounds (so drift hits all alike); median and p99 in µs."""
    samples: dict[str, list[int]] = {name: [] for name in batches}
    for name, batch in batches.items():
        batch(max(10, iterations // 20))  # warm up: pools, prepared statements, caches
    per_round = max(1, iterations // rounds)
    for _ in range(rounds):
        for name, batch in batches.items():
            samples[name] += batch(per_round)
    rows = []
    for name, values in samples.items():
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        rows.append(Row(workload, name, "µs", statistics.median(values) / 1000, p99 / 1000))
    return rows


def throughput(
    workload: str, name: str, clients: int, seconds: float, operation: Callable[[int, int], Any]
) -> Row:
    """Operations per second of ``clients`` threads calling ``operation(client, i)`` for ``seconds``."""
    counts = [0] * clients
    stop = threading.Event()
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        barrier.wait()
        i = 0
        while not stop.is_set():
            operation(index, i)
            i += 1
        counts[index] = i

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return Row(workload, name, "ops/s", sum(counts) / (time.perf_counter() - started))


def async_throughput(
    workload: str,
    name: str,
    url: str,
    clients: int,
    seconds: float,
    operation: Callable[[AsyncForgeDB, int, int], Awaitable[Any]],
) -> Row:
    """Operations per second of ``clients`` concurrent tasks sharing one AsyncForgeDB."""

    async def main() -> float:
        adb = await AsyncForgeDB.connect(url, min_size=clients, max_size=clients)
        counts = [0] * clients
        deadline = time.perf_counter() + seconds

        async def client(index: int) -> None:
            i = 0
            while time.perf_counter() < deadline:
                await operation(adb, index, i)
                i += 1
            counts[index] = i

        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.perf_counter() - started
        await adb.close()
        return sum(counts) / elapsed

    return Row(workload, name, "ops/s", asyncio.run(main()))


def interleaved(
    workload: str,
    runners: dict[str, Callable[[float], Row | None]],
    seconds: float,
    rounds: int = 3,
) -> list[Row]:
    """Throughput of each runner over ``rounds`` alternating slices of ``seconds`` in all.

    Alternating keeps a checkpoint or an autovacuum pass from landing on one implementation only.
    """
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            row = run(seconds / rounds)
            if row is not None:
                rates[name].append(row.median)
    return [
        Row(workload, name, "ops/s", statistics.mean(values))
        for name, values in rates.items()
        if values
    ]


def pgbench(workload: str, url: str, script: str, clients: int, seconds: int) -> Row | None:
    """pgbench running ``script`` (prepared statements) with ``clients``; None if unavailable."""
    binary = embedded.pg_bin("pgbench")
    info = psycopg.conninfo.conninfo_to_dict(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    os.chmod(handle.name, 0o644)
    command = [
        str(binary),
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(seconds),
        "-f",
        handle.name,
        "-h",
        str(info.get("host") or "localhost"),
        "-p",
        str(info.get("port") or 5432),
        "-U",
        str(info.get("user") or "postgres"),
        str(info.get("dbname")),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  pgbench unavailable for {workload}: {exc}", file=sys.stderr)
        return None
    finally:
        os.unlink(handle.name)
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    if match is None:
        return None
    return Row(workload, "pgbench", "ops/s", float(match.group(1)))


def literal_sql(conn: psycopg.Connection, query: Any) -> str:
    """A Query's SQL with its parameters inlined, for a pgbench script."""
    text = psycopg.ClientCursor(conn).mogrify(query.sql, query.params)
    return " ".join(text.split()) + ";\n"


# --- workloads ---------------------------------------------------------------------------------


class Bench:
    """Holds the connections of every implementation and runs the workloads."""

    def __init__(self, url: str, dataset: data.Dataset, quick: bool) -> None:
        self.url = url
        self.data = dataset
        self.quick = quick
        self.iterations = 300 if quick else 3000
        self.seconds = 2 if quick else 10
        self.db = ForgeDB.connect(url, min_size=1, max_size=8)
        self.raw = psycopg.connect(url, autocommit=True)
        self.engine = orm.engine(url)
        self.loop = asyncio.new_event_loop()
        self.adb = self.loop.run_until_complete(AsyncForgeDB.connect(url, min_size=1, max_size=8))
        self.rows: list[Row] = []

    def close(self) -> None:
        self.loop.run_until_complete(self.adb.close())
        self.loop.close()
        self.db.close()
        self.raw.close()
        self.engine.dispose()

    def raw_op(self, build: Callable[[int], Any]) -> Callable[[int], Any]:
        # The baseline runs the very statements forge_db sends, built before the clock starts:
        # it measures psycopg alone, so the layer's own costs (argument checks, building the
        # statement, the pool, the models) all show in the ratio.
        queries = [build(i) for i in range(self.iterations + 1)]

        def run(i: int) -> Any:
            query = queries[i % len(queries)]
            return self.raw.execute(query.sql, query.params).fetchall()

        return run

    def add(self, rows: list[Row] | Row | None) -> None:
        if rows is None:
            return
        for row in rows if isinstance(rows, list) else [rows]:
            self.rows.append(row)
            unit = row.unit
            p99 = f"  p99 {row.p99:9.1f}" if row.p99 is not None else ""
            print(
                f"  {row.workload:<40} {row.implementation:<18} {row.median:10.1f} {unit}{p99}",
                file=sys.stderr,
            )

    def session_lookup(self) -> None:
        tokens = self.data.session_tokens

        def token(i: int) -> str:
            return tokens[i % len(tokens)]

        self.add(
            latency(
                "session lookup by token",
                {
                    "forge_db": sync_batch(lambda i: self.db.auth.get_session(token(i))),
                    "forge_db async": async_batch(
                        self.loop, lambda i: self.adb.auth.get_session(token(i))
                    ),
                    "raw psycopg": sync_batch(
                        self.raw_op(lambda i: Auth.get_session.query(self.db.auth, token(i)))
                    ),
                    "SQLAlchemy ORM": sync_batch(
                        lambda i: orm.session_lookup(self.engine, token(i))
                    ),
                },
                self.iterations,
            )
        )
        script = literal_sql(self.raw, Auth.get_session.query(self.db.auth, tokens[0]))
        self.add(pgbench("session lookup by token", self.url, script, 1, self.seconds))

    def get_issue(self) -> None:
        repo = self.data.list_repos["10000"]

        def number(i: int) -> int:
            return 1 + (i * 7919) % 10000

        self.add(
            latency(
                "get issue with labels and reactions",
                {
                    "forge_db": sync_batch(lambda i: self.db.issues.get(repo, number(i))),
                    "forge_db async": async_batch(
                        self.loop, lambda i: self.adb.issues.get(repo, number(i))
                    ),
                    "raw psycopg": sync_batch(
                        self.raw_op(lambda i: Issues.get.query(self.db.issues, repo, number(i)))
                    ),
                    "SQLAlchemy ORM": sync_batch(
                        lambda i: orm.get_issue(self.engine, repo, number(i), None)
                    ),
                },
                self.iterations,
            )
        )
        script = literal_sql(self.raw, Issues.get.query(self.db.issues, repo, 4242))
        self.add(pgbench("get issue with labels and reactions", self.url, script, 1, self.seconds))

    def create_issue(self) -> None:
        repos, author = self.data.small_repos, self.data.user_ids[0]
        labels = ["bug", "docs"]

        def create(db: ForgeDB, repo: int) -> Any:
            return db.issues.create(repo, actor_id=author, title="benchmark issue", labels=labels)

        def query(repo: int) -> Any:
            return Issues.create.query(
                self.db.issues, repo, actor_id=author, title="benchmark issue", labels=labels
            )

        self.add(
            latency(
                "create issue with 2 labels, 1 client",
                {
                    "forge_db": sync_batch(lambda i: create(self.db, repos[0])),
                    "forge_db async": async_batch(
                        self.loop,
                        lambda i: self.adb.issues.create(
                            repos[0], actor_id=author, title="benchmark issue", labels=labels
                        ),
                    ),
                    "raw psycopg": sync_batch(self.raw_op(lambda i: query(repos[0]))),
                    "SQLAlchemy ORM": sync_batch(
                        lambda i: orm.create_issue(
                            self.engine, repos[0], author, "benchmark issue", labels
                        )
                    ),
                },
                self.iterations // 3,
            )
        )
        self.add(
            pgbench(
                "create issue with 2 labels, 1 client",
                self.url,
                literal_sql(self.raw, query(repos[0])),
                1,
                self.seconds,
            )
        )
        for spread, pick in (
            ("8 repositories", lambda c: repos[c % 8]),
            ("1 repository", lambda c: repos[0]),
        ):
            workload = f"create issue, 8 clients over {spread}"
            local = threading.local()

            def raw_create(c: int, i: int) -> Any:
                if not hasattr(local, "conn"):
                    local.conn = psycopg.connect(self.url, autocommit=True)
                q = query(pick(c))
                return local.conn.execute(q.sql, q.params).fetchall()

            if spread == "1 repository":
                script = literal_sql(self.raw, query(repos[0]))
            else:
                statement = literal_sql(self.raw, query(987654321)).replace("987654321", ":repo")
                script = f"\\set repo random({min(repos)}, {max(repos)})\n{statement}"
            with ForgeDB.connect(self.url, min_size=8, max_size=8) as shared:
                runners: dict[str, Callable[[float], Row | None]] = {
                    "forge_db": lambda t: throughput(
                        workload, "forge_db", 8, t, lambda c, i: create(shared, pick(c))
                    ),
                    "forge_db async": lambda t: async_throughput(
                        workload,
                        "forge_db async",
                        self.url,
                        8,
                        t,
                        lambda adb, c, i: adb.issues.create(
                            pick(c), actor_id=author, title="benchmark issue", labels=labels
                        ),
                    ),
                    "raw psycopg": lambda t: throughput(workload, "raw psycopg", 8, t, raw_create),
                    "pgbench": lambda t: pgbench(workload, self.url, script, 8, max(1, round(t))),
                }
                self.add(interleaved(workload, runners, self.seconds))

    def pgbouncer(self) -> None:
        """The 8-client create-issue workload direct and through a transaction-mode PgBouncer."""
        if PGBOUNCER is None:
            print("  skipped: pgbouncer is not installed", file=sys.stderr)
            return
        author, labels = self.data.user_ids[0], ["bug", "docs"]
        workload = "create issue, 8 clients over 8 repositories, direct and through PgBouncer"
        dbname = str(psycopg.conninfo.conninfo_to_dict(self.url)["dbname"])
        # Behind a transaction pooler forge_db runs without prepared statements or a session
        # statement_timeout (README, PgBouncer); "direct, unprepared" isolates what the
        # bouncer's hop costs from what giving up prepared statements costs.
        unprepared = {"prepared_statements": False, "statement_timeout": None}
        with running_pgbouncer(self.url, pool_size=8) as bouncer:
            via = bouncer.url(dbname)
            dbs = {
                "forge_db direct": ForgeDB.connect(self.url, min_size=8, max_size=8),
                "forge_db direct, unprepared": ForgeDB.connect(
                    self.url, min_size=8, max_size=8, **unprepared
                ),
                "forge_db through PgBouncer": ForgeDB.connect(
                    via, min_size=8, max_size=8, **unprepared
                ),
            }
            try:
                runners = {
                    name: self._creates(workload, name, db, author, labels)
                    for name, db in dbs.items()
                }
                for name, url, prepare in (
                    ("raw psycopg direct", self.url, 2),
                    ("raw psycopg through PgBouncer", via, None),
                ):
                    runners[name] = self._raw_creates(workload, name, url, prepare, author, labels)
                rows = interleaved(workload, runners, self.seconds * 2)
            finally:
                for db in dbs.values():
                    db.close()
        by_name = {row.implementation: row for row in rows}
        for row in rows:
            for baseline in ("forge_db direct", "raw psycopg direct"):
                if row.implementation != baseline and baseline in by_name:
                    row.ratios[f"/ {baseline}"] = row.median / by_name[baseline].median
        self.add(rows)

    def _creates(
        self, workload: str, name: str, db: ForgeDB, author: int, labels: list[str]
    ) -> Callable[[float], Row | None]:
        repos = self.data.small_repos

        def create(c: int, i: int) -> Any:
            return db.issues.create(
                repos[c % 8], actor_id=author, title="benchmark issue", labels=labels
            )

        return lambda t: throughput(workload, name, 8, t, create)

    def _raw_creates(
        self,
        workload: str,
        name: str,
        url: str,
        prepare: int | None,
        author: int,
        labels: list[str],
    ) -> Callable[[float], Row | None]:
        repos = self.data.small_repos
        local = threading.local()
        opened: list[psycopg.Connection[Any]] = []

        def create(c: int, i: int) -> Any:
            if not hasattr(local, "conn"):
                local.conn = psycopg.connect(url, autocommit=True, prepare_threshold=prepare)
                opened.append(local.conn)
            q = Issues.create.query(
                self.db.issues,
                repos[c % 8],
                actor_id=author,
                title="benchmark issue",
                labels=labels,
            )
            return local.conn.execute(q.sql, q.params).fetchall()

        def run(seconds: float) -> Row | None:
            try:
                return throughput(workload, name, 8, seconds, create)
            finally:
                while opened:  # each run has threads, and so connections, of its own
                    opened.pop().close()

        return run

    def list_pages(self) -> None:
        for size, repo in self.data.list_repos.items():
            cursor = None
            for _ in range(99):
                cursor = self.db.issues.list(
                    repo, labels=["bug"], limit=50, cursor=cursor
                ).next_cursor
            assert cursor is not None, "the data set holds fewer than 100 pages"
            last = Issues.list.query(self.db.issues, repo, labels=["bug"], limit=50, cursor=cursor)
            assert last.shape.paging is not None
            keyset, scope = last.shape.paging
            after_at, after_id = keyset.after(cursor, scope)
            for page, page_cursor, after in (
                ("first", None, None),
                ("100th", cursor, (after_at, after_id)),
            ):
                workload = f"list 50 open bug issues, {page} page, {int(size):,} issues"

                def build(i: int, c: str | None = page_cursor) -> Any:
                    return Issues.list.query(
                        self.db.issues, repo, labels=["bug"], limit=50, cursor=c
                    )

                def forge(i: int, c: str | None = page_cursor) -> Any:
                    return self.db.issues.list(repo, labels=["bug"], limit=50, cursor=c)

                def forge_async(i: int, c: str | None = page_cursor) -> Awaitable[Any]:
                    return self.adb.issues.list(repo, labels=["bug"], limit=50, cursor=c)

                def with_orm(i: int, a: Any = after) -> Any:
                    return orm.list_page(self.engine, repo, "bug", a, None)

                self.add(
                    latency(
                        workload,
                        {
                            "forge_db": sync_batch(forge),
                            "forge_db async": async_batch(self.loop, forge_async),
                            "raw psycopg": sync_batch(self.raw_op(build)),
                            "SQLAlchemy ORM": sync_batch(with_orm),
                        },
                        self.iterations // 5,
                    )
                )

    def search(self) -> None:
        for size, repo in self.data.list_repos.items():
            workload = f"full-text search, {int(size):,} issues"
            terms = (
                "parser crash",
                "landing queue timeout",
                "wallet signature",
                "divergent change",
            )
            self.add(
                latency(
                    workload,
                    {
                        "forge_db": sync_batch(
                            lambda i: self.db.issues.search(repo, terms[i % 4], limit=20)
                        ),
                        "forge_db async": async_batch(
                            self.loop,
                            lambda i: self.adb.issues.search(repo, terms[i % 4], limit=20),
                        ),
                        "raw psycopg": sync_batch(
                            self.raw_op(
                                lambda i: Issues.search.query(
                                    self.db.issues, repo, terms[i % 4], limit=20
                                )
                            )
                        ),
                    },
                    max(20, self.iterations // 30),
                )
            )

    def sign_in(self) -> None:
        from eth_account import Account
        from eth_account.messages import encode_defunct

        count = 60 if self.quick else 400
        signed: list[tuple[str, str]] = []
        now = datetime.now(UTC).replace(microsecond=0)
        for _ in range(3 * count):
            account = Account.create()
            nonce = self.db.auth.create_siwe_nonce()
            message = format_siwe_message(
                SiweMessage(
                    scheme="https",
                    domain="bench.example",
                    address=checksum_address(account.address.lower()),
                    uri="https://bench.example/login",
                    chain_id=1,
                    nonce=nonce,
                    issued_at=now,
                    expiration_time=now + timedelta(hours=1),
                )
            )
            signature = (
                "0x"
                + bytes(
                    Account.sign_message(encode_defunct(text=message), account.key).signature
                ).hex()
            )
            signed.append((message, signature))
        # Nonces are single use: every timed call (warm-up included) takes a message of its own.
        dal, asynchronous, raw = (iter(signed[k * count : (k + 1) * count]) for k in range(3))
        prepared = iter(
            [
                Auth.sign_in_with_ethereum.query(self.db.auth, m, s, domain="bench.example")
                for m, s in raw
            ]
        )

        def raw_sign_in(i: int) -> Any:
            query = next(prepared)
            return self.raw.execute(query.sql, query.params).fetchall()

        self.add(
            latency(
                "SIWE sign-in, end to end",
                {
                    "forge_db": sync_batch(
                        lambda i: self.db.auth.sign_in_with_ethereum(
                            *next(dal), domain="bench.example"
                        )
                    ),
                    "forge_db async": async_batch(
                        self.loop,
                        lambda i: self.adb.auth.sign_in_with_ethereum(
                            *next(asynchronous), domain="bench.example"
                        ),
                    ),
                    "raw psycopg": sync_batch(raw_sign_in),
                },
                count - max(10, count // 20),
                rounds=1,
            )
        )
        self.add(
            latency(
                "SIWE signature check alone",
                {
                    "recover_signer": sync_batch(
                        lambda i: recover_signer(*signed[i % len(signed)])
                    ),
                },
                count * 2,
            )
        )

    def run(self, only: set[str] | None) -> None:
        # Reads first, on the settled data set: the writes that follow wake autovacuum, which
        # would otherwise compete with the reads measured after them on a small machine.
        for name in (
            "session_lookup",
            "get_issue",
            "list_pages",
            "search",
            "create_issue",
            "pgbouncer",
            "sign_in",
        ):
            if only is None or name in only:
                print(f"{name}:", file=sys.stderr)
                getattr(self, name)()


# --- reporting ---------------------------------------------------------------------------------


def add_ratios(rows: list[Row]) -> None:
    """For each forge_db row: its cost against each baseline of the same workload."""
    by_workload: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_workload.setdefault(row.workload, {})[row.implementation] = row
    for group in by_workload.values():
        for name in ("forge_db", "forge_db async"):
            ours = group.get(name)
            if ours is None:
                continue
            for baseline in ("raw psycopg", "SQLAlchemy ORM", "pgbench"):
                other = group.get(baseline)
                if other is None or other is ours:
                    continue
                if ours.unit == other.unit == "µs":
                    ours.ratios[f"/ {baseline}"] = ours.median / other.median
                elif other.unit == "ops/s":
                    mine = ours.median if ours.unit == "ops/s" else 1e6 / ours.median
                    ours.ratios[f"/ {baseline}"] = mine / other.median


def table(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| workload | implementation | median | p99 | vs raw psycopg | vs SQLAlchemy ORM | vs pgbench |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        value = f"{row.median:,.0f} ops/s" if row.unit == "ops/s" else f"{row.median:,.1f} µs"
        p99 = f"{row.p99:,.1f} µs" if row.p99 is not None else ""

        def ratio(key: str, row: Row = row) -> str:
            return f"{row.ratios[key]:.2f}×" if key in row.ratios else ""

        lines.append(
            f"| {row.workload} | {row.implementation} | {value} | {p99} | {ratio('/ raw psycopg')} "
            f"| {ratio('/ SQLAlchemy ORM')} | {ratio('/ pgbench')} |"
        )
    return "\n".join(lines)


def machine(url: str) -> dict[str, Any]:
    """Where the numbers came from."""
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "server": version[0] if version else None,
        "psycopg": psycopg.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench``: build a data set, run every workload, print and save the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run (no 1M-issue data set)"
    )
    parser.add_argument("--only", action="append", help="run only these workloads (repeatable)")
    parser.add_argument(
        "--output", type=Path, default=None, help="results file (default bench/results/<date>.json)"
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="forge-bench-", dir="/tmp") as scratch:
        server_url = args.url or embedded.ensure_server(Path(scratch) / "pg").url
        name = f"forge_bench_{os.getpid()}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = with_dbname(server_url, name)
        try:
            migrations.migrate(url)
            sizes = (10_000,) if args.quick else (10_000, 1_000_000)
            print(
                f"loading data set ({', '.join(f'{s:,}' for s in sizes)} issues)...",
                file=sys.stderr,
            )
            dataset = data.load(url, big_sizes=sizes)
            print(f"loaded in {dataset.seconds:.1f} s", file=sys.stderr)
            bench = Bench(url, dataset, args.quick)
            try:
                bench.run(set(args.only) if args.only else None)
            finally:
                bench.close()
            rows = bench.rows
            add_ratios(rows)
            report = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "mode": "quick" if args.quick else "full",
                "machine": machine(url),
                "seconds": round(time.monotonic() - started, 1),
                "load_average_after": os.getloadavg(),
                "rows": [asdict(row) for row in rows],
            }
            output = (
                args.output
                or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}{'-quick' if args.quick else ''}.json"
            )
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            print(table(rows))
            print(f"\n{report['seconds']} s; results in {output}", file=sys.stderr)
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    return 0
