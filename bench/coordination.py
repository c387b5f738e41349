"""The coordination domain's costs: ``python -m bench.coordination``.

One process, one server (a fresh embedded PostgreSQL unless ``--url``):

- event bus, 8 producers + 8 consumers: events published, taken in batches of 10 and acked per
  second, through ``db.coordination.events``; the pgmq pattern's SQL written raw on a plain
  queue table (send = INSERT, read with a visibility timeout = UPDATE ... SKIP LOCKED
  RETURNING, delete); and pgbench running forge_db's own publish, take and ack statements;
- wake-up latency: from a publish's commit to the return of a consumer's ``events.wait``;
- single-row latency of ``limits.hit`` and ``users.find_by_ssh_fingerprint`` against the same
  statement on a raw psycopg connection;
- lease acquire + release from 32 threads, each presenting its token to release.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from forge_db import ForgeDB, embedded
from forge_db.config import with_dbname

from .run import RESULTS, Row, latency, machine, pgbench, sync_batch, throughput

PRODUCERS = CONSUMERS = 8
BATCH = 10

_QUEUE = """
CREATE TABLE IF NOT EXISTS bench_queue (
    msg_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    read_ct integer NOT NULL DEFAULT 0,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    vt timestamptz NOT NULL DEFAULT now(),
    message jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS bench_queue_vt_idx ON bench_queue (vt);
"""
# pgmq.send / pgmq.read / pgmq.delete, as pgmq's SQL functions run them.
_SEND = "INSERT INTO bench_queue (message) VALUES (%s) RETURNING msg_id"
_READ = """
WITH cte AS (
    SELECT msg_id FROM bench_queue WHERE vt <= clock_timestamp()
    ORDER BY msg_id LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE bench_queue m SET vt = clock_timestamp() + make_interval(secs => 60),
                         read_ct = read_ct + 1
FROM cte WHERE m.msg_id = cte.msg_id
RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message
"""
_DELETE = "DELETE FROM bench_queue WHERE msg_id = %s"


def _pump(total: int, publish: Any, take: Any, ack: Any, idle: Any) -> float:
    """Events per second for ``total`` events through 8 producer and 8 consumer threads."""
    per_producer = total // PRODUCERS
    done = threading.Event()
    acked = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(PRODUCERS + CONSUMERS + 1)

    def producer(index: int) -> None:
        barrier.wait()
        for n in range(per_producer):
            publish(index, n)

    def consumer(index: int) -> None:
        barrier.wait()
        while not done.is_set():
            batch = take(index)
            for item in batch:
                ack(index, item)
            with lock:
                acked[0] += len(batch)
                if acked[0] >= per_producer * PRODUCERS:
                    done.set()
            if not batch:
                idle(index)

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(PRODUCERS)]
    threads += [threading.Thread(target=consumer, args=(i,)) for i in range(CONSUMERS)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return per_producer * PRODUCERS / (time.perf_counter() - started)


def event_bus(url: str, total: int, rounds: int) -> list[Row]:
    """forge_db's bus, the raw pgmq pattern and pgbench on forge_db's SQL, interleaved."""
    workload = f"event publish + take + ack, {PRODUCERS}+{CONSUMERS} threads"
    forge: list[float] = []
    raw: list[float] = []
    with ForgeDB.connect(url, min_size=4, max_size=PRODUCERS + CONSUMERS + 2) as db:
        events = db.coordination.events
        events.subscribe("bench", "bench.*")
        with psycopg.connect(url, autocommit=True) as setup:
            setup.execute(_QUEUE)
        local = threading.local()

        def conn() -> psycopg.Connection[Any]:
            if not hasattr(local, "conn"):
                local.conn = psycopg.connect(url, autocommit=True)
            own: psycopg.Connection[Any] = local.conn
            return own

        for _ in range(rounds):
            forge.append(
                _pump(
                    total,
                    lambda i, n: events.publish("bench.event", {"n": n}, source=f"p{i}"),
                    lambda i: events.consume("bench", BATCH, worker=f"c{i}"),
                    lambda i, d: events.ack("bench", d.event_id, token=d.fencing_token),
                    lambda i: events.wait("bench", timeout=0.05),
                )
            )
            raw.append(
                _pump(
                    total,
                    lambda i, n: conn().execute(_SEND, (json.dumps({"n": n}),)),
                    lambda i: conn().execute(_READ, (BATCH,)).fetchall(),
                    lambda i, row: conn().execute(_DELETE, (row[0],)),
                    lambda i: time.sleep(0.001),
                )
            )
        consume = events.consume.query("bench", 1, worker="pgbench")
        with psycopg.connect(url) as c:
            consume_sql = psycopg.ClientCursor(c).mogrify(consume.sql, consume.params)
    # The same CTEs that pick and take the delivery; the last SELECT hands pgbench one row.
    head = consume_sql[: consume_sql.rindex(") SELECT ") + 1]
    taken = "(SELECT {} FROM taken WHERE state = 'in_flight' LIMIT 1)"
    nil = "'00000000-0000-0000-0000-000000000000'"
    script = (
        "INSERT INTO events (topic, payload) VALUES ('bench.event', '{}');\n"
        f"{head} SELECT coalesce({taken.format('event_id::text')}, {nil}) AS eid, "
        f"coalesce({taken.format('fencing_token')}, 0) AS tok\n"
        "\\gset\n"
        "UPDATE event_deliveries d SET state = 'acked', acked_at = now() "
        "FROM event_subscriptions s WHERE d.subscription_id = s.id AND s.name = 'bench' "
        "AND d.event_id = :eid::uuid AND d.state = 'in_flight' AND d.fencing_token = :tok;\n"
    )
    rows = [
        Row(workload, "forge_db (events.publish/consume/ack)", "events/s", median(forge)),
        Row(workload, "pgmq pattern, raw psycopg (send/read vt/delete)", "events/s", median(raw)),
    ]
    bench_row = pgbench(workload, url, script, PRODUCERS + CONSUMERS, 10)
    if bench_row is not None:
        rows.append(
            Row(
                workload,
                "pgbench: forge_db's SQL, 1 event per transaction",
                "events/s",
                bench_row.median,
            )
        )
    for row in rows[1:]:
        rows[0].ratios[f"/ {row.implementation.split(':')[0].split(',')[0]}"] = (
            rows[0].median / row.median
        )
    return rows


def wake_latency(url: str, samples: int) -> Row:
    """Milliseconds from a publish's commit to a waiting consumer's wake-up."""
    delays: list[float] = []
    with ForgeDB.connect(url, min_size=2, max_size=4) as db:
        events = db.coordination.events
        events.subscribe("wake", "wake.*")
        for _ in range(samples):
            woke: list[float] = []

            def wait(woke: list[float] = woke) -> None:
                events.wait("wake", timeout=10)
                woke.append(time.perf_counter())

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.02)  # let it reach LISTEN
            published = time.perf_counter()
            events.publish("wake.up")
            waiter.join()
            delays.append((woke[0] - published) * 1000)
            for d in events.consume("wake", 10):
                assert d.fencing_token is not None
                events.ack("wake", d.event_id, token=d.fencing_token)
    delays.sort()
    return Row(
        "publish to woken consumer (events.wait)",
        "forge_db",
        "ms",
        median(delays),
        delays[int(len(delays) * 0.99) - 1],
    )


def single_row(url: str, iterations: int) -> list[Row]:
    """limits.hit and find_by_ssh_fingerprint against their own SQL on raw psycopg."""
    rows: list[Row] = []
    with (
        ForgeDB.connect(url, min_size=1, max_size=2) as db,
        psycopg.connect(url, autocommit=True) as raw,
    ):
        user = db.users.create(username=f"bench{os.getpid()}")
        line = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        key = db.users.add_ssh_key(user.id, line)
        cases = {
            "limits.hit (allowed, one key)": (
                lambda i: db.coordination.limits.hit(f"k{i % 100}", 1_000_000_000, 60),
                lambda i: db.coordination.limits.hit.query(f"k{i % 100}", 1_000_000_000, 60),
            ),
            "users.find_by_ssh_fingerprint": (
                lambda i: db.users.find_by_ssh_fingerprint(key.fingerprint),
                lambda i: db.users.find_by_ssh_fingerprint.query(key.fingerprint),
            ),
        }
        for workload, (call, query) in cases.items():

            def direct(i: int, query: Any = query) -> Any:
                q = query(i)
                return raw.execute(q.sql, q.params, prepare=True).fetchall()

            measured = latency(
                workload,
                {"forge_db": sync_batch(call), "raw psycopg": sync_batch(direct)},
                iterations,
            )
            by = {row.implementation: row for row in measured}
            by["forge_db"].ratios["/ raw psycopg"] = (
                by["forge_db"].median / by["raw psycopg"].median
            )
            rows += measured
    return rows


def leases(url: str, seconds: float) -> list[Row]:
    """Acquire + release pairs per second from 32 threads, each releasing with its token."""
    rows = []
    with ForgeDB.connect(url, min_size=8, max_size=32) as db:
        lease = db.coordination.leases
        for names in (32, 4):

            def pair(client: int, i: int, names: int = names) -> None:
                grant = lease.acquire(f"bench:{client % names}", f"w{client}", ttl=60)
                if grant.acquired:
                    assert lease.release(
                        f"bench:{client % names}", f"w{client}", token=grant.fencing_token
                    )

            rows.append(
                throughput(
                    f"lease acquire + release, 32 threads on {names} names",
                    "forge_db",
                    32,
                    seconds,
                    pair,
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and save the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.coordination", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--events", type=int, default=8_000, help="events per event-bus round")
    parser.add_argument("--rounds", type=int, default=3, help="event-bus rounds per implementation")
    parser.add_argument("--iterations", type=int, default=5_000, help="single-row calls")
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
            from forge_db import migrations

            migrations.migrate(url)
            rows = event_bus(url, args.events, args.rounds)
            rows.append(wake_latency(url, 100))
            rows += single_row(url, args.iterations)
            rows += leases(url, 5)
            report = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "mode": f"coordination: {args.events} events x {args.rounds} rounds, "
                f"{args.iterations} single-row calls",
                "machine": machine(url),
                "seconds": round(time.monotonic() - started, 1),
                "rows": [asdict(row) for row in rows],
            }
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    output = args.output or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-coordination.json"
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for row in rows:
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in row.ratios.items())
        print(f"{row.workload} | {row.implementation} | {row.median:,.2f} {row.unit} | {ratios}")
    print(f"\n{report['seconds']} s; results in {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
