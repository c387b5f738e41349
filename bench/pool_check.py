"""What checking a pooled connection on checkout costs per call: ``python -m bench.pool_check``.

One process, one server (a fresh embedded PostgreSQL unless ``--url``), the implementations
interleaved in rounds. The statement is the one-row ``db.meta.server_version_num()``: a round
trip as short as forge_db makes, so the checkout's own cost is as visible as it can be.

- raw psycopg: the same statement on one autocommit connection, no pool;
- unchecked checkout: ``pool.connection()`` then forge_db's executor (what forge_db did before);
- poll() check: ``db.meta.server_version_num()`` as shipped, which polls the socket on checkout;
- check_connection: psycopg_pool's own ``check=ConnectionPool.check_connection``, a round trip
  per checkout (the alternative that was not taken).

The first rows time the checkout alone (take a connection, give it back, no statement): the
part that changed, without the server's noise, which on a shared machine can exceed it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool

from forge_db import AsyncForgeDB, ForgeDB, embedded, pooling
from forge_db.config import Settings, with_dbname
from forge_db.errors import translate
from forge_db.meta import Meta
from forge_db.query import (
    AsyncRunner,
    AsyncRunnerBase,
    Query,
    SyncRunner,
    T,
    execute_async,
    execute_sync,
)

from .run import RESULTS, Row, async_batch, latency, machine, sync_batch

WORKLOAD = "meta.server_version_num()"
CHECKOUT = "checkout and return, no statement"
ROUNDS = 20  # fine interleaving: the differences sought are a few µs on a shared machine


def _ratios(rows: list[Row], base: str, names: list[str]) -> None:
    by_name = {row.implementation: row for row in rows}
    for name in names:
        by_name[name].ratios[f"/ {base}"] = by_name[name].median / by_name[base].median


class PoolRunner:
    """forge_db's pool runner as it was before the checkout check: ``pool.connection()``."""

    def __init__(self, pool: psycopg_pool.ConnectionPool[Any]) -> None:
        self.pool = pool

    def run(self, query: Query[T]) -> T:
        try:
            with self.pool.connection(timeout=10) as conn:
                return execute_sync(conn, query)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc) from exc


class AsyncPoolRunner(AsyncRunnerBase):
    """The async twin of :class:`PoolRunner`."""

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def run(self, query: Query[T]) -> T:
        try:
            async with self.pool.connection(timeout=10) as conn:
                return await execute_async(conn, query)
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.Error) as exc:
            raise translate(exc) from exc


def measure(url: str, iterations: int) -> list[Row]:
    """Sync and async rows for every implementation, interleaved."""
    settings = Settings()
    sql = str(Meta.server_version_num.query(Meta[Any](None)).sql)
    kwargs = settings.connection_kwargs()

    # Every forge_db variant goes through the same namespace and operation; only the runner,
    # that is the checkout, differs.
    raw = psycopg.connect(url, **kwargs)
    checked_pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
        url,
        kwargs=kwargs,
        min_size=1,
        max_size=1,
        open=True,
        check=psycopg_pool.ConnectionPool.check_connection,
    )
    checked_pool.wait()
    with ForgeDB.connect(url, min_size=1, max_size=1) as db:
        # The checkout alone, with no statement: the part that changed, free of server noise.
        def pool_connection(_: int) -> None:
            with db.pool.connection(timeout=10):
                pass

        def pooled(_: int) -> None:
            with pooling.pooled(db.pool, 10):
                pass

        def checked_connection(_: int) -> None:
            with checked_pool.connection(timeout=10):
                pass

        rows = latency(
            CHECKOUT,
            {
                "unchecked checkout (before)": sync_batch(pool_connection),
                "poll() check (after)": sync_batch(pooled),
                "check_connection": sync_batch(checked_connection),
            },
            iterations,
            ROUNDS,
        )
        before = Meta[SyncRunner](PoolRunner(db.pool))
        check_connection = Meta[SyncRunner](PoolRunner(checked_pool))
        rows += latency(
            WORKLOAD,
            {
                "raw psycopg": sync_batch(lambda _: raw.execute(sql).fetchone()),
                "unchecked checkout (before)": sync_batch(lambda _: before.server_version_num()),
                "poll() check (after)": sync_batch(lambda _: db.meta.server_version_num()),
                "check_connection": sync_batch(lambda _: check_connection.server_version_num()),
            },
            iterations,
            ROUNDS,
        )
    checked_pool.close()
    raw.close()

    loop = asyncio.new_event_loop()

    async def open_async() -> tuple[psycopg.AsyncConnection[Any], AsyncForgeDB]:
        conn = await psycopg.AsyncConnection.connect(url, **kwargs)
        return conn, await AsyncForgeDB.connect(url, min_size=1, max_size=1)

    araw, adb = loop.run_until_complete(open_async())
    abefore = Meta[AsyncRunner](AsyncPoolRunner(adb.pool))

    async def araw_call(_: int) -> Any:
        return await (await araw.execute(sql)).fetchone()

    async_rows = latency(
        WORKLOAD + " async",
        {
            "raw psycopg": async_batch(loop, araw_call),
            "unchecked checkout (before)": async_batch(
                loop, lambda _: abefore.server_version_num()
            ),
            "poll() check (after)": async_batch(loop, lambda _: adb.meta.server_version_num()),
        },
        iterations,
        ROUNDS,
    )
    loop.run_until_complete(adb.close())
    loop.run_until_complete(araw.close())
    loop.close()

    sync_names = ["unchecked checkout (before)", "poll() check (after)", "check_connection"]
    checkout_rows = [row for row in rows if row.workload == CHECKOUT]
    rows = [row for row in rows if row.workload != CHECKOUT]
    _ratios(checkout_rows, "unchecked checkout (before)", sync_names[1:])
    _ratios(rows, "raw psycopg", sync_names)
    _ratios(rows, "unchecked checkout (before)", sync_names[1:])
    async_names = ["unchecked checkout (before)", "poll() check (after)"]
    _ratios(async_rows, "raw psycopg", async_names)
    _ratios(async_rows, "unchecked checkout (before)", async_names[1:])
    return checkout_rows + rows + async_rows


def table(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    before = "/ unchecked checkout (before)"
    lines = [
        "| workload | implementation | median | p99 | vs raw psycopg | vs before |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cells = [
            f"{row.ratios[k]:.3f}×" if k in row.ratios else "" for k in ("/ raw psycopg", before)
        ]
        lines.append(
            f"| {row.workload} | {row.implementation} | {row.median:,.1f} µs "
            f"| {row.p99 or 0:,.1f} µs | {cells[0]} | {cells[1]} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure, print a table, and save the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.pool_check", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--iterations", type=int, default=40_000, help="calls per implementation")
    parser.add_argument("--output", type=Path, default=None, help="results file")
    args = parser.parse_args(argv)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="forge-bench-", dir="/tmp") as scratch:
        server_url = args.url or embedded.ensure_server(Path(scratch) / "pg").url
        name = f"forge_bench_{os.getpid()}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = with_dbname(server_url, name)
        try:
            rows = measure(url, args.iterations)
            report = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "mode": f"pool-check, {args.iterations} calls per implementation in {ROUNDS} rounds",
                "machine": machine(url),
                "seconds": round(time.monotonic() - started, 1),
                "rows": [asdict(row) for row in rows],
            }
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    output = args.output or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-pool-check.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(rows))
    print(f"\n{report['seconds']} s; results in {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
