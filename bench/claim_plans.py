"""What the server does for one step claim and finish: ``python -m bench.claim_plans``.

One connection, one runner, a backlog of one-step runs, claims and finishes one at a time, as
this tree sends them, on a fresh database; then again with 0017 rolled back (the state-machine
triggers ``PERFORM refuse_transition`` on every update), where the tree has 0017. For each: how
many executions of the claim and the finish ran on their generic plans
(``pg_prepared_statements``); for the last ``EXPLAINED`` pairs, the server's execution time,
each trigger's time and the time of each row write (a ``ModifyTable`` node's own time, less
the rows it reads: the heap tuple and every index entry it adds) from ``auto_explain`` with
``log_analyze`` and ``log_triggers`` (as notices; per-node timing adds its own overhead); and how
many of the row updates were HOT (``pg_stat_user_tables``). Last, the client's side: CPU time
(``time.thread_time``, the kernel's share included) and wall time per claim + finish, through
forge_db and as the same two statements sent by raw psycopg, beside two ``SELECT 1`` (what two
round trips cost the client by themselves), in interleaved rounds.

Run from an older checkout (with this file and ``call_cost.py`` copied into its ``bench``), it
measures what that tree sent: how the "before" figures of a change are taken.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from forge_db import ForgeDB

from .call_cost import save, scratch_database
from .run import RESULTS
from .workflow_claims import _fill

MIGRATIONS = Path(__file__).resolve().parent.parent / "db" / "migrations"
PAIRS = 20
EXPLAINED = 10
# As many pending steps as the throughput benchmark drains: plan choices depend on the sizes.
BACKLOG = 5000
_DURATION = re.compile(r"duration: ([0-9.]+) ms")


def _writes(node: dict[str, Any], found: dict[str, float]) -> None:
    """Each ``ModifyTable`` node's own time (ms), by operation and table, summed into ``found``."""
    children = node.get("Plans", [])
    if node.get("Node Type") == "ModifyTable":
        own = node["Actual Total Time"] - sum(c["Actual Total Time"] for c in children)
        key = f"{node['Operation'].lower()} {node['Relation Name']}"
        found[key] = round(found.get(key, 0.0) + own * node.get("Actual Loops", 1), 3)
    for child in children:
        _writes(child, found)


def _explained(notes: list[str]) -> list[dict[str, Any]]:
    """``auto_explain``'s notices (JSON plans) as execution, trigger and row-write times."""
    found = []
    for note in notes:
        duration = _DURATION.search(note)
        start = note.find("{")
        if duration is None or start < 0:
            continue
        plan = json.loads(note[start:])
        writes: dict[str, float] = {}
        _writes(plan["Plan"], writes)
        found.append(
            {
                "statement": plan.get("Query Text", "")[:40],
                "duration_ms": float(duration.group(1)),
                "triggers_ms": {
                    t.get("Constraint Name", t["Trigger Name"]): t["Time"]
                    for t in plan.get("Triggers", [])
                },
                "row_writes_ms": writes,
            }
        )
    return found


def _medians(explained: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the explained claims (even entries) and finishes (odd entries)."""
    out: dict[str, Any] = {}
    for name, rows in (("claim", explained[0::2]), ("finish", explained[1::2])):
        if not rows:
            continue
        keys = {k for r in rows for k in r["row_writes_ms"]}
        out[name] = {
            "duration_ms": statistics.median(r["duration_ms"] for r in rows),
            "row_writes_ms": {
                k: statistics.median(r["row_writes_ms"].get(k, 0.0) for r in rows)
                for k in sorted(keys)
            },
        }
    return out


def _setup(url: str, db: ForgeDB, name: str) -> dict[str, Any]:
    """Claim and finish ``PAIRS`` steps on one connection; plan counts and the last pair's."""
    ops = db.workflows.runners
    runner = db.workflows.register_runner(name=name)
    notes: list[str] = []
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        conn.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        for n in range(PAIRS):
            if n == PAIRS - EXPLAINED:
                for setting in (
                    "LOAD 'auto_explain'",
                    "SET auto_explain.log_min_duration = 0",
                    "SET auto_explain.log_analyze = on",
                    "SET auto_explain.log_triggers = on",
                    "SET auto_explain.log_format = json",
                    "SET auto_explain.log_level = notice",
                ):
                    conn.execute(setting)
            claim = ops.claim.query(runner.runner.id, runner_token=runner.token)
            row = conn.execute(claim.sql, claim.params).fetchone()
            assert row is not None
            finish = ops.finish.query(
                row[0], runner_id=runner.runner.id, runner_token=runner.token,
                token=row[13], outcome="succeeded",
            )  # fmt: skip
            conn.execute(finish.sql, finish.params).fetchall()
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = -1")
        plans = conn.execute(
            "SELECT generic_plans, custom_plans, left(statement, 60) FROM pg_prepared_statements"
            " WHERE statement LIKE '%WITH runner AS%' ORDER BY statement"
        ).fetchall()
        # A backend sends its counters at most once a second: ask for them now.
        if _has_flush(conn):
            conn.execute("SELECT pg_stat_force_next_flush()")
        hot = conn.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname IN ('workflow_steps', 'workflow_runs') ORDER BY relname"
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, count(*) FROM pg_indexes"
            " WHERE tablename IN ('workflow_steps', 'workflow_runs') GROUP BY 1 ORDER BY 1"
        ).fetchall()
    explained = _explained(notes)
    return {
        "plans (generic, custom) of claim and finish": [
            {"generic": g, "custom": c, "statement": s} for g, c, s in plans
        ],
        f"last {EXPLAINED} pairs, auto_explain": explained,
        f"last {EXPLAINED} pairs, medians": _medians(explained),
        "updates so far (all, HOT), since the database was created": {
            name: {"updates": upd, "hot": hot_upd} for name, upd, hot_upd in hot
        },
        "indexes": dict(indexes),
    }


def _has_flush(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server has ``pg_stat_force_next_flush`` (PostgreSQL 15 and later)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_proc WHERE proname = 'pg_stat_force_next_flush')"
    ).fetchone()
    return bool(row and row[0])


def _client(url: str, db: ForgeDB, rounds: int = 7, pairs: int = 100) -> dict[str, Any]:
    """Median CPU and wall µs per claim + finish on the client, by way of sending them."""
    ops = db.workflows.runners
    runner = db.workflows.register_runner(name="plans-client")
    me = (runner.runner.id, runner.token)
    with (
        ForgeDB.connect(url, min_size=1, max_size=1) as own,
        psycopg.connect(url, autocommit=True) as raw,
    ):

        def forge_db() -> None:
            step = own.workflows.claim_step(me[0], runner_token=me[1])
            assert step is not None
            own.workflows.finish_step(
                step.id, runner_id=me[0], runner_token=me[1], token=step.fencing_token,
                outcome="succeeded",
            )  # fmt: skip

        def raw_psycopg() -> None:
            claim = ops.claim.query(me[0], runner_token=me[1])
            row = raw.execute(claim.sql, claim.params).fetchone()
            assert row is not None
            finish = ops.finish.query(
                row[0], runner_id=me[0], runner_token=me[1], token=row[13], outcome="succeeded"
            )
            raw.execute(finish.sql, finish.params).fetchall()

        def two_round_trips() -> None:
            raw.execute("SELECT 1").fetchall()
            raw.execute("SELECT 1").fetchall()

        ways: dict[str, Callable[[], None]] = {
            "forge_db claim_step + finish_step": forge_db,
            "raw psycopg, the same two statements": raw_psycopg,
            "raw psycopg, SELECT 1 twice": two_round_trips,
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for way in ways.values():
            for _ in range(20):
                way()
        for _ in range(rounds):
            for name, way in ways.items():
                cpu, wall = time.thread_time(), time.perf_counter()
                for _ in range(pairs):
                    way()
                samples[name].append(
                    ((time.thread_time() - cpu) / pairs, (time.perf_counter() - wall) / pairs)
                )
    return {
        name: {
            "cpu_us": round(statistics.median(c for c, _ in values) * 1e6, 1),
            "wall_us": round(statistics.median(w for _, w in values) * 1e6, 1),
        }
        for name, values in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and save under ``--label``."""
    parser = argparse.ArgumentParser(prog="python -m bench.claim_plans", description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--label", default="after")
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "2026-12-01-claim-plans.json", help="results file"
    )
    args = parser.parse_args(argv)
    rollback = MIGRATIONS / "0017_cheaper_transition_checks.rollback.sql"
    report: dict[str, Any] = {}
    with (
        scratch_database(args.url, "plans") as (url, version),
        ForgeDB.connect(url) as db,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        owner = db.users.create(username="plans")
        repo = db.repositories.create(owner_id=owner.id, name="plans")
        # Enough for every pair below: the setup's, then the client's.
        _fill(conn, repo.id, BACKLOG)
        report["this tree"] = _setup(url, db, "plans-tree")
        report["client, per claim + finish (median of rounds)"] = _client(url, db)
        if rollback.exists():
            conn.execute(rollback.read_text())
            report["this tree, 0017 rolled back"] = _setup(url, db, "plans-0016-triggers")
    save(args.output, args.label, {"server": version, "pairs": PAIRS, "backlog": BACKLOG}, report)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
