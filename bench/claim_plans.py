"""What the server does for one step claim and finish: ``python -m bench.claim_plans``.

One connection, one runner, a backlog of one-step runs, claims and finishes one at a time, as
this tree sends them, on a fresh database; then again with 0017 rolled back (the state-machine
triggers ``PERFORM refuse_transition`` on every update), where the tree has 0017. For each: how
many executions of the claim and the finish ran on their generic plans
(``pg_prepared_statements``), and for the last pair, the server's execution time and each
trigger's time (``auto_explain`` with ``log_analyze`` and ``log_triggers``, as notices).

Run from an older checkout (with this file and ``call_cost.py`` copied into its ``bench``), it
measures what that tree sent: how the "before" figures of a change are taken.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import psycopg

from forge_db import ForgeDB

from .call_cost import save, scratch_database
from .run import RESULTS
from .workflow_claims import _fill

MIGRATIONS = Path(__file__).resolve().parent.parent / "db" / "migrations"
PAIRS = 20
# As many pending steps as the throughput benchmark drains: plan choices depend on the sizes.
BACKLOG = 5000
_DURATION = re.compile(r"duration: ([0-9.]+) ms")


def _explained(notes: list[str]) -> list[dict[str, Any]]:
    """``auto_explain``'s notices (JSON plans) as execution time and trigger times."""
    found = []
    for note in notes:
        duration = _DURATION.search(note)
        start = note.find("{")
        if duration is None or start < 0:
            continue
        plan = json.loads(note[start:])
        found.append(
            {
                "statement": plan.get("Query Text", "")[:40],
                "duration_ms": float(duration.group(1)),
                "triggers_ms": {
                    t.get("Constraint Name", t["Trigger Name"]): t["Time"]
                    for t in plan.get("Triggers", [])
                },
            }
        )
    return found


def _setup(url: str, db: ForgeDB, name: str) -> dict[str, Any]:
    """Claim and finish ``PAIRS`` steps on one connection; plan counts and the last pair's."""
    ops = db.workflows.runners
    runner = db.workflows.register_runner(name=name)
    notes: list[str] = []
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        conn.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        for n in range(PAIRS):
            if n == PAIRS - 1:
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
    return {
        "plans (generic, custom) of claim and finish": [
            {"generic": g, "custom": c, "statement": s} for g, c, s in plans
        ],
        "last pair, auto_explain": _explained(notes),
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
        _fill(conn, repo.id, BACKLOG)
        report["this tree"] = _setup(url, db, "plans-tree")
        if rollback.exists():
            conn.execute(rollback.read_text())
            report["this tree, 0017 rolled back"] = _setup(url, db, "plans-0016-triggers")
    save(args.output, args.label, {"server": version, "pairs": PAIRS, "backlog": BACKLOG}, report)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
