"""Client instructions per call, counted by callgrind: ``python -m bench.instructions``.

Wall-clock and even CPU time swing on a shared machine; the number of instructions the client
process executes does not. Each implementation runs ``--calls`` single-row calls in a process of
its own under ``valgrind --tool=callgrind``; a process that sets up the same and makes no call
is subtracted, so what is left is the calls' own work (the server is another process and is
not counted). Implementations: forge_db and raw psycopg (the very statement, built beforehand),
sync and async, on ``db.issues.get``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from forge_db import AsyncForgeDB, ForgeDB, embedded, migrations
from forge_db.config import with_dbname
from forge_db.issues import Issues

RESULTS = Path(__file__).with_name("results")
IMPLEMENTATIONS = ("none", "raw psycopg", "forge_db", "raw psycopg async", "forge_db async")


def _calls(url: str, implementation: str, calls: int) -> None:
    """Set everything up, then make ``calls`` calls the given way (run under callgrind)."""
    db = ForgeDB.connect(url, min_size=1, max_size=1)
    raw = psycopg.connect(url, autocommit=True, prepare_threshold=2)
    with db.connection() as conn:
        row = conn.execute("SELECT repository_id, number FROM issues LIMIT 1").fetchone()
    assert row is not None
    repo, number = row
    query = Issues.get.query(db.issues, repo, number)

    async def run_async() -> None:
        adb = await AsyncForgeDB.connect(url, min_size=1, max_size=1)
        araw = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=2)
        for _ in range(5):  # prepared, cached, as a warm call is
            await adb.issues.get(repo, number)
            await (await araw.execute(query.sql, query.params)).fetchall()
        if implementation == "forge_db async":
            for _ in range(calls):
                await adb.issues.get(repo, number)
        elif implementation == "raw psycopg async":
            for _ in range(calls):
                await (await araw.execute(query.sql, query.params)).fetchall()
        await araw.close()
        await adb.close()

    for _ in range(5):
        db.issues.get(repo, number)
        raw.execute(query.sql, query.params).fetchall()
    if implementation == "forge_db":
        for _ in range(calls):
            db.issues.get(repo, number)
    elif implementation == "raw psycopg":
        for _ in range(calls):
            raw.execute(query.sql, query.params).fetchall()
    asyncio.run(run_async())
    raw.close()
    db.close()


def _count(url: str, implementation: str, calls: int) -> int:
    with tempfile.TemporaryDirectory(prefix="forge-callgrind-") as out:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}/callgrind.out",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            implementation,
            "--calls",
            str(calls),
            "--url",
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        match = re.search(r"Collected : (\d+)", done.stderr)
        assert match is not None, done.stderr[-2000:]
        return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    """Count, print, and save under ``--label`` in the results file (kept across runs)."""
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--url", help="server (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--label", default="after")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "2026-12-01-call-instructions.json"
    )
    args = parser.parse_args(argv)
    if args.child:
        _calls(args.url, args.child, args.calls)
        return 0
    with tempfile.TemporaryDirectory(prefix="forge-instr-", dir="/tmp") as scratch:
        server_url = args.url or embedded.ensure_server(Path(scratch) / "pg").url
        name = f"forge_instr_{os.getpid()}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = with_dbname(server_url, name)
            migrations.migrate(url)
            with ForgeDB.connect(url) as db:
                owner = db.users.create(username="instructions")
                repo = db.repositories.create(owner_id=owner.id, name="instructions")
                db.issues.labels.create(repo.id, actor_id=owner.id, name="bug")
                db.issues.create(repo.id, actor_id=owner.id, title="counted", labels=["bug"])
            counts = {impl: _count(url, impl, args.calls) for impl in IMPLEMENTATIONS}
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    per_call = {impl: (counts[impl] - counts["none"]) / args.calls for impl in IMPLEMENTATIONS[1:]}
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "calls": args.calls,
        "instructions_per_call": per_call,
        "forge_db / raw psycopg": per_call["forge_db"] / per_call["raw psycopg"],
        "forge_db async / raw psycopg async": per_call["forge_db async"]
        / per_call["raw psycopg async"],
    }
    saved = json.loads(args.output.read_text()) if args.output.exists() else {}
    saved[args.label] = report
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n")
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
