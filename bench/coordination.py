"""The coordination domain's costs: ``python -m bench.coordination``.

One process, one server (a fresh embedded PostgreSQL unless ``--url``):

- event bus, 8 producers + 8 consumers: events published, taken in batches of 10 and acked per
  second, through ``db.coordination.events``; the pgmq pattern's SQL written raw on a plain
  queue table (send = INSERT, read with a visibility timeout = UPDATE ... SKIP LOCKED
  RETURNING, delete); and pgbench running forge_db's own publish, take and ack statements;
  forge_db's bus again with 0011's fan-out (NOTIFY on every publish) and, as a diagnostic,
  with no NOTIFY; the median and p99 of each statement under that load;
- publishing alone from 8 threads with no consumer waiting: the fan-out of 0015 (notifies only
  while a consumer waits), 0011's, none, and the pgmq pattern's send;
- wake-up latency: from a publish's commit to the return of a consumer's ``events.wait``;
- single-row latency of ``limits.hit`` and ``users.find_by_ssh_fingerprint`` against the same
  statement sent by raw psycopg on the same connection (see ``single_row``);
- lease acquire + release from 32 threads, each presenting its token to release.

The pgmq pattern is the baseline of what a queue needs at the least: one table, one row per
message, no fan-out (one consumer group), no event log kept after the delete, no fencing
token (a late consumer's delete removes a message another consumer took over), no attempt
count beyond read_ct, no dead state, no priority, no wake-up: its idle consumers poll every
millisecond. The results file also holds the step timings of the single-row calls, their
plans (EXPLAIN ANALYZE, BUFFERS) and the load average.
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

from forge_db import ForgeDB, embedded, pooling
from forge_db.config import with_dbname
from forge_db.query import Result, _columns

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


class Timings:
    """Per-statement latencies (ns) of one implementation of the bus, across its rounds."""

    def __init__(self) -> None:
        self.samples: dict[str, list[int]] = {"publish": [], "take": [], "ack": []}

    def timed(self, step: str, call: Any) -> Any:
        """``call`` with each call's duration added to ``step``'s samples."""
        out = self.samples[step]

        def run(*args: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return call(*args)
            finally:
                out.append(time.perf_counter_ns() - start)

        return run

    def rows(self, implementation: str) -> list[Row]:
        """Median and p99 of each statement, in ms."""
        rows = []
        for step, values in self.samples.items():
            values = sorted(values)
            if values:
                rows.append(
                    Row(
                        f"event bus statement under 8+8 threads: {step}",
                        implementation,
                        "ms",
                        median(values) / 1e6,
                        values[int(len(values) * 0.99) - 1] / 1e6,
                    )
                )
        return rows


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


_NOTIFY = "PERFORM pg_notify('forge_db_events', v_subscription::text);"
_ROLLBACK = Path(__file__).parent.parent / "db/migrations/0015_coordination_waiters.rollback.sql"


def _fan_out(conn: psycopg.Connection[Any], variant: str) -> None:
    """Install a fan-out trigger function: the schema's ("0015"), 0011's, or "silent".

    0011's notified on every publish; "silent" is the schema's without any ``pg_notify``, a
    diagnostic of what the wake-up costs, not a configuration forge_db offers.
    """
    if not hasattr(_fan_out, "sources"):
        row = conn.execute("SELECT pg_get_functiondef('events_fan_out'::regproc)").fetchone()
        assert row is not None
        assert _NOTIFY in row[0], "the fan-out no longer notifies as this benchmark expects"
        text = _ROLLBACK.read_text()
        start = text.index("CREATE OR REPLACE FUNCTION events_fan_out()")
        old = text[start : text.index("$$;", start) + 3]
        _fan_out.sources = {  # type: ignore[attr-defined]
            "0015": row[0],
            "0011": old,
            "silent": row[0].replace(_NOTIFY, "NULL;"),
        }
    conn.execute(_fan_out.sources[variant])  # type: ignore[attr-defined]


def publish_only(url: str, total: int, rounds: int) -> list[Row]:
    """8 producers publishing with no consumer waiting: 0015's fan-out, 0011's, raw INSERT."""
    workload = f"publish only, {PRODUCERS} threads, no consumer waiting"
    rates: dict[str, list[float]] = {"0015": [], "0011": [], "silent": [], "raw": []}
    per = total // PRODUCERS

    def rate(publish: Any) -> float:
        barrier = threading.Barrier(PRODUCERS + 1)

        def producer(index: int) -> None:
            barrier.wait()
            for n in range(per):
                publish(index, n)

        threads = [threading.Thread(target=producer, args=(i,)) for i in range(PRODUCERS)]
        for t in threads:
            t.start()
        barrier.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        return per * PRODUCERS / (time.perf_counter() - started)

    local = threading.local()

    def conn() -> psycopg.Connection[Any]:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(url, autocommit=True)
        own: psycopg.Connection[Any] = local.conn
        return own

    with (
        ForgeDB.connect(url, min_size=PRODUCERS, max_size=PRODUCERS + 2) as db,
        psycopg.connect(url, autocommit=True) as admin,
    ):
        events = db.coordination.events
        events.subscribe("bench.quiet", "quiet.*")
        try:
            for _ in range(rounds):
                for variant in ("0015", "0011", "silent"):
                    _fan_out(admin, variant)
                    rates[variant].append(
                        rate(lambda i, n: events.publish("quiet.event", {"n": n}))
                    )
                rates["raw"].append(
                    rate(lambda i, n: conn().execute(_SEND, (json.dumps({"n": n}),)))
                )
        finally:
            _fan_out(admin, "0015")
            events.unsubscribe("bench.quiet")
    names = {
        "0015": "forge_db (events.publish)",
        "0011": "forge_db with 0011's fan-out (NOTIFY on every publish)",
        "silent": "diagnostic: forge_db with the fan-out's pg_notify removed",
        "raw": "pgmq pattern, raw psycopg (send)",
    }
    rows = [Row(workload, names[k], "events/s", median(v)) for k, v in rates.items()]
    for row in rows[:3]:
        row.ratios["/ pgmq pattern"] = row.median / rows[3].median
    rows[0].ratios["/ 0011's fan-out"] = rows[0].median / rows[1].median
    return rows


def event_bus(url: str, total: int, rounds: int) -> list[Row]:
    """forge_db's bus, the raw pgmq pattern and pgbench on forge_db's SQL, interleaved.

    forge_db's bus also runs with 0011's fan-out (NOTIFY on every publish) and, as a
    diagnostic and not a configuration forge_db offers, with no ``pg_notify`` at all, to show
    what the wake-up costs the publishers (a notifying transaction holds a cluster-wide lock
    through its commit, so notifying publishers commit one at a time).
    """
    workload = f"event publish + take + ack, {PRODUCERS}+{CONSUMERS} threads"
    forge: list[float] = []
    quiet: list[float] = []
    old: list[float] = []
    raw: list[float] = []
    timings = {"forge": Timings(), "quiet": Timings(), "old": Timings(), "raw": Timings()}
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

        def forge_pump(t: Timings) -> float:
            return _pump(
                total,
                t.timed(
                    "publish", lambda i, n: events.publish("bench.event", {"n": n}, source=f"p{i}")
                ),
                t.timed("take", lambda i: events.consume("bench", BATCH, worker=f"c{i}")),
                t.timed("ack", lambda i, d: events.ack("bench", d.event_id, token=d.fencing_token)),
                lambda i: events.wait("bench", timeout=0.05),
            )

        with psycopg.connect(url, autocommit=True) as admin:
            for _ in range(rounds):
                forge.append(forge_pump(timings["forge"]))
                t = timings["raw"]
                raw.append(
                    _pump(
                        total,
                        t.timed(
                            "publish",
                            lambda i, n: conn().execute(_SEND, (json.dumps({"n": n}),)),
                        ),
                        t.timed("take", lambda i: conn().execute(_READ, (BATCH,)).fetchall()),
                        t.timed("ack", lambda i, row: conn().execute(_DELETE, (row[0],))),
                        lambda i: time.sleep(0.001),
                    )
                )
                try:
                    _fan_out(admin, "0011")
                    old.append(forge_pump(timings["old"]))
                    _fan_out(admin, "silent")
                    quiet.append(forge_pump(timings["quiet"]))
                finally:
                    _fan_out(admin, "0015")
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
    diagnostic = Row(
        workload,
        "diagnostic: forge_db with the fan-out's pg_notify removed",
        "events/s",
        median(quiet),
    )
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
    earlier = Row(
        workload, "forge_db with 0011's fan-out (NOTIFY on every publish)", "events/s", median(old)
    )
    diagnostic.ratios["/ pgmq pattern"] = diagnostic.median / rows[1].median
    earlier.ratios["/ pgmq pattern"] = earlier.median / rows[1].median
    rows[0].ratios["/ without pg_notify"] = rows[0].median / diagnostic.median
    rows[0].ratios["/ 0011's fan-out"] = rows[0].median / earlier.median
    rows += [earlier, diagnostic]
    rows += timings["forge"].rows("forge_db")
    rows += timings["old"].rows("forge_db with 0011's fan-out")
    rows += timings["quiet"].rows("diagnostic: forge_db without pg_notify")
    rows += timings["raw"].rows("pgmq pattern, raw psycopg")
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


def _steps(db: ForgeDB, bound: Any, args: Any, iterations: int) -> dict[str, float]:
    """Median µs of each step of one call, the steps run in sequence as ``Bound`` runs them.

    The steps are those of the sync pool runner (``forge_db.query`` / ``forge_db.database``):
    argument checks and the statement, pool checkout (with the dead-connection check),
    execute and fetch, the rows turned into the model, and the connection's return.
    """
    names = (
        "arguments and statement",
        "pool checkout",
        "execute and fetch",
        "rows to model",
        "pool return",
    )
    samples: dict[str, list[int]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    for i in range(iterations):
        t0 = clock()
        q = bound.query(*args(i))
        t1 = clock()
        conn = pooling.getconn(db.pool, 5.0)
        t2 = clock()
        cursor = conn.execute(q.sql, q.params)
        columns = _columns(cursor) or ()
        result = Result(cursor.fetchall(), columns, cursor.rowcount)
        t3 = clock()
        q.shape.convert(result)
        t4 = clock()
        db.pool.putconn(conn)
        t5 = clock()
        if i >= iterations // 10:  # the first tenth warms up
            for name, start, end in zip(
                names, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5), strict=True
            ):
                samples[name].append(end - start)
    return {name: median(values) / 1000 for name, values in samples.items()}


def _explain(raw: psycopg.Connection[Any], q: Any) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of a query, run after a few warm executions."""
    for _ in range(3):
        raw.execute(q.sql, q.params)
    return [row[0] for row in raw.execute(f"EXPLAIN (ANALYZE, BUFFERS) {q.sql}", q.params)]


PROFILE: dict[str, Any] = {}
"""Step timings and plans that explain the figures, saved beside them."""


def _round_trip_us(conn: psycopg.Connection[Any], calls: int = 400) -> float:
    """Median µs of ``SELECT 1`` on ``conn``: where its backend runs decides it (see below)."""
    for _ in range(50):
        conn.execute("SELECT 1", prepare=True).fetchall()
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        conn.execute("SELECT 1", prepare=True).fetchall()
        times.append(time.perf_counter_ns() - start)
    return median(times) / 1000


def single_row(url: str, iterations: int, backends: int = 4) -> list[Row]:
    """limits.hit and find_by_ssh_fingerprint against their own SQL sent by raw psycopg.

    The baseline runs on forge_db's own connection: a pool of one, whose connection the raw
    calls borrow for each of their batches, so both sides talk to the same backend. On a small
    virtual machine the round trip of one connection differs from another's by up to 2x and
    stays so for the connection's life (where the scheduler keeps its backend against the
    client: ``round trip`` rows), which a baseline on a connection of its own would count as
    the layer's. The comparison is repeated on ``backends`` pools, one backend each; the ratio
    is the median of theirs. A raw connection of its own and psycopg_pool's ``connection()``
    context on the same pool are measured beside them for reference.
    """
    rows: list[Row] = []
    per_backend = max(200, iterations // backends)
    ratios: dict[str, list[float]] = {}
    for backend in range(backends):
        with (
            ForgeDB.connect(url, min_size=1, max_size=1) as db,
            psycopg.connect(url, autocommit=True) as raw,
        ):
            user = db.users.create(username=f"bench{os.getpid()}b{backend}")
            line = (
                ed25519.Ed25519PrivateKey.generate()
                .public_key()
                .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
                .decode()
            )
            key = db.users.add_ssh_key(user.id, line)
            with db.connection() as own:
                trips = {
                    "pool's connection": _round_trip_us(own),
                    "own connection": _round_trip_us(raw),
                }
            for where, value in trips.items():
                rows.append(
                    Row(f"round trip of SELECT 1, backend {backend}", where, "µs", value, None)
                )
            cases = {
                "limits.hit (allowed, one key)": (
                    db.coordination.limits.hit,
                    lambda i: (f"k{i % 100}", 1_000_000_000, 60),
                ),
                "users.find_by_ssh_fingerprint": (
                    db.users.find_by_ssh_fingerprint,
                    lambda i: (key.fingerprint,),
                ),
            }
            for workload, (bound, args) in cases.items():

                def call(i: int, bound: Any = bound, args: Any = args) -> Any:
                    return bound(*args(i))

                def query(i: int, bound: Any = bound, args: Any = args) -> Any:
                    return bound.query(*args(i))

                def direct(i: int, query: Any = query) -> Any:
                    q = query(i)
                    return raw.execute(q.sql, q.params, prepare=True).fetchall()

                borrowed: list[psycopg.Connection[Any]] = []

                def on_pools_connection(i: int, query: Any = query) -> Any:
                    q = query(i)
                    return borrowed[0].execute(q.sql, q.params, prepare=True).fetchall()

                timed_on_pools = sync_batch(on_pools_connection)

                def same_backend(
                    n: int, db: ForgeDB = db, timed: Any = timed_on_pools
                ) -> list[int]:
                    conn = pooling.getconn(db.pool, 5.0)
                    borrowed[:] = [conn]
                    try:
                        result: list[int] = timed(n)
                        return result
                    finally:
                        db.pool.putconn(conn)

                def pool_context(i: int, query: Any = query, db: ForgeDB = db) -> Any:
                    q = query(i)
                    with db.pool.connection() as conn:
                        return conn.execute(q.sql, q.params).fetchall()

                measured = latency(
                    f"{workload}, backend {backend}",
                    {
                        "forge_db": sync_batch(call),
                        "raw psycopg, the same connection": same_backend,
                        "raw psycopg, a connection of its own": sync_batch(direct),
                        "psycopg_pool connection() context, the same connection": sync_batch(
                            pool_context
                        ),
                    },
                    per_backend,
                    rounds=max(1, per_backend // 100),
                )
                by = {row.implementation: row for row in measured}
                ours = by["forge_db"]
                for name, label in (
                    ("raw psycopg, the same connection", "/ raw psycopg"),
                    ("raw psycopg, a connection of its own", "/ raw psycopg, own connection"),
                    (
                        "psycopg_pool connection() context, the same connection",
                        "/ psycopg_pool context",
                    ),
                ):
                    ours.ratios[label] = ours.median / by[name].median
                ratios.setdefault(workload, []).append(ours.ratios["/ raw psycopg"])
                rows += measured
                if backend == 0:
                    PROFILE[workload] = {
                        "steps (median µs each, in sequence)": _steps(db, bound, args, per_backend),
                        "explain analyze": _explain(raw, query(0)),
                        "load average": os.getloadavg(),
                    }
            if backend == 0:
                rows += _last_use_cte(db, raw, key.fingerprint, per_backend)
    for workload, values in ratios.items():
        rows.append(
            Row(
                f"{workload}: forge_db / raw psycopg on the same connection",
                f"median of {len(values)} backends",
                "ratio",
                median(values),
                None,
                {f"backend {i}": value for i, value in enumerate(values)},
            )
        )
    return rows


def _last_use_cte(
    db: ForgeDB, raw: psycopg.Connection[Any], fingerprint: str, iterations: int
) -> list[Row]:
    """Whether the last-use CTE (written at most once a minute) costs the lookup anything when
    it writes nothing: the same statement without it, both on raw psycopg."""
    full = db.users.find_by_ssh_fingerprint.query(fingerprint)
    assert isinstance(full.sql, str)
    sent: str = full.sql
    bare = sent[sent.index("SELECT ") : sent.index(" ), touched AS")]
    params = full.params
    compared = latency(
        "users.find_by_ssh_fingerprint statement, raw psycopg",
        {
            "with the last-use CTE (as sent)": sync_batch(
                lambda i: raw.execute(sent, params, prepare=True).fetchall()
            ),
            "the lookup alone, no CTE": sync_batch(
                lambda i: raw.execute(bare, params, prepare=True).fetchall()
            ),
        },
        iterations,
    )
    compared[0].ratios["/ the lookup alone"] = compared[0].median / compared[1].median
    return compared


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
    parser.add_argument(
        "--backends", type=int, default=4, help="pools of one backend for the single-row calls"
    )
    parser.add_argument(
        "--only",
        choices=("all", "single-row"),
        default="all",
        help="single-row: only limits.hit and find_by_ssh_fingerprint (quick, for a calm moment)",
    )
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
            load: dict[str, tuple[float, float, float]] = {"start": os.getloadavg()}
            rows = []
            if args.only == "all":
                rows += event_bus(url, args.events, args.rounds)
                load["after event bus"] = os.getloadavg()
                rows += publish_only(url, args.events, args.rounds)
                load["after publish only"] = os.getloadavg()
                rows.append(wake_latency(url, 100))
            rows += single_row(url, args.iterations, args.backends)
            load["after single-row"] = os.getloadavg()
            if args.only == "all":
                rows += leases(url, 5)
            load["end"] = os.getloadavg()
            report = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "mode": f"coordination ({args.only}): {args.events} events x {args.rounds} "
                f"rounds, {args.iterations} single-row calls on {args.backends} backends",
                "machine": machine(url),
                "load_average (1, 5, 15 min)": load,
                "seconds": round(time.monotonic() - started, 1),
                "rows": [asdict(row) for row in rows],
                "profile": PROFILE,
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
