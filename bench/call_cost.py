"""What one call costs the client, part by part: ``python -m bench.call_cost``.

One process, one server (a fresh embedded PostgreSQL unless ``--url``). Two single-row
workloads, ``db.issues.get`` (a read) and ``db.auth.get_session`` (a write: it slides the
expiry), each run four ways, interleaved in rounds: forge_db sync, raw psycopg sync (the very
statement, built before the clock starts, tuple rows), forge_db async and raw psycopg async.

Wall-clock medians on a shared machine swing with the neighbours, so the client's own work is
also counted in CPU time (``time.process_time``: this process only, the server excluded), and
the part of forge_db's CPU time that raw psycopg does not spend is split into its steps, each
timed alone over many repetitions: the attribute lookup, the argument checks with the
statement's building, the pool checkout and return, and the rows turned into models.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from eth_hash.auto import keccak

from forge_db import AsyncForgeDB, ForgeDB, embedded, migrations, pooling
from forge_db.auth import Auth
from forge_db.config import with_dbname
from forge_db.ethereum import (
    SiweMessage,
    canonical_address,
    checksum_address,
    format_siwe_message,
    parse_siwe_message,
    recover_signer,
)
from forge_db.issues import Issue, Issues
from forge_db.query import Result, _columns
from forge_db.repositories import Repository
from forge_db.users import User

RESULTS = Path(__file__).with_name("results")


def _per_call(run: Callable[[int], Any], n: int) -> tuple[float, float]:
    """(median wall µs, mean CPU µs) of ``run(i)`` over ``n`` calls."""
    walls = []
    cpu = time.process_time()
    for i in range(n):
        start = time.perf_counter_ns()
        run(i)
        walls.append(time.perf_counter_ns() - start)
    cpu = time.process_time() - cpu
    return statistics.median(walls) / 1000, cpu / n * 1e6


def _per_call_async(
    loop: asyncio.AbstractEventLoop, run: Callable[[int], Awaitable[Any]], n: int
) -> tuple[float, float]:
    async def timed() -> tuple[float, float]:
        walls = []
        cpu = time.process_time()
        for i in range(n):
            start = time.perf_counter_ns()
            await run(i)
            walls.append(time.perf_counter_ns() - start)
        cpu = time.process_time() - cpu
        return statistics.median(walls) / 1000, cpu / n * 1e6

    return loop.run_until_complete(timed())


def _steps(db: ForgeDB, build: Callable[[], Any], n: int) -> dict[str, float]:
    """CPU µs of each step of a forge_db call that raw psycopg does not take."""
    query = build()
    with db.connection() as conn:
        cursor = conn.execute(query.sql, query.params)
        result = Result(cursor.fetchall(), _columns(cursor) or (), cursor.rowcount)

    def cpu(step: Callable[[], Any]) -> float:
        start = time.process_time()
        for _ in range(n):
            step()
        return (time.process_time() - start) / n * 1e6

    namespace = db.issues
    return {
        "attribute lookup (db.issues.get)": cpu(lambda: namespace.get),
        "argument checks and statement": cpu(build),
        "pool checkout and return": cpu(lambda: _checkout(db)),
        "rows to models": cpu(lambda: query.shape.convert(result)),
    }


DOMAIN = "bench.example"


def _signed(db: ForgeDB) -> tuple[str, str]:
    """A fresh SIWE message for a new wallet, on a nonce of its own, and its signature."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    account = Account.create()
    now = datetime.now(UTC).replace(microsecond=0)
    message = format_siwe_message(
        SiweMessage(
            scheme="https",
            domain=DOMAIN,
            address=checksum_address(account.address.lower()),
            uri=f"https://{DOMAIN}/login",
            chain_id=1,
            nonce=db.auth.create_siwe_nonce(),
            issued_at=now,
            expiration_time=now + timedelta(hours=1),
        )
    )
    signature = Account.sign_message(encode_defunct(text=message), account.key).signature
    return message, "0x" + bytes(signature).hex()


def sign_in_cost(db: ForgeDB, raw: psycopg.Connection[Any], n: int, rounds: int) -> dict[str, Any]:
    """Sign-in, forge_db against the very statement on raw psycopg, and its steps in CPU µs.

    Raw psycopg runs statements built before the clock starts, so the message's parsing, the
    signature's check and the session token are all on forge_db's side of the ratio.
    """
    per_round = max(1, n // rounds)
    signed = iter([_signed(db) for _ in range(2 * per_round * rounds + 2)])
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for _ in range(rounds):
        ours.append(
            _per_call(
                lambda i: db.auth.sign_in_with_ethereum(*next(signed), domain=DOMAIN), per_round
            )
        )
        built = [
            Auth.sign_in_with_ethereum.query(db.auth, *next(signed), domain=DOMAIN)
            for _ in range(per_round)
        ]
        theirs.append(
            _per_call(lambda i: raw.execute(built[i].sql, built[i].params).fetchall(), per_round)
        )
    message, signature = next(signed)
    query = Auth.sign_in_with_ethereum.query(db.auth, message, signature, domain=DOMAIN)
    cursor = raw.execute(query.sql, query.params)
    result = Result(cursor.fetchall(), _columns(cursor) or (), cursor.rowcount)
    parsed = parse_siwe_message(message)
    reps = max(200, n)

    def cpu(step: Callable[[], Any]) -> float:
        start = time.process_time()
        for _ in range(reps):
            step()
        return (time.process_time() - start) / reps * 1e6

    rows = {
        "forge_db": {
            "median_us": statistics.median(w for w, _ in ours),
            "cpu_us": statistics.median(c for _, c in ours),
        },
        "raw psycopg": {
            "median_us": statistics.median(w for w, _ in theirs),
            "cpu_us": statistics.median(c for _, c in theirs),
        },
    }
    rows["forge_db"]["vs_raw"] = rows["forge_db"]["median_us"] / rows["raw psycopg"]["median_us"]
    rows["forge_db"]["cpu_over_raw_us"] = rows["forge_db"]["cpu_us"] - rows["raw psycopg"]["cpu_us"]
    steps = {
        "all before the statement (checks, parse, signature, token)": cpu(
            lambda: Auth.sign_in_with_ethereum.query(db.auth, message, signature, domain=DOMAIN)
        ),
        "message parsed (EIP-4361)": cpu(lambda: parse_siwe_message(message)),
        "signer recovered (EIP-191: keccak and secp256k1)": cpu(
            lambda: recover_signer(message, signature)
        ),
        "address checked (EIP-55, one keccak)": cpu(
            lambda: canonical_address(checksum_address(parsed.address), "address")
        ),
        "one keccak-256 of 32 bytes (eth-hash)": cpu(lambda: keccak(b"\x00" * 32)),
        "session token and its digest": cpu(
            lambda: hashlib.sha256(secrets.token_urlsafe(32).encode()).digest()
        ),
        "pool checkout and return": cpu(lambda: _checkout(db)),
        "rows to models": cpu(lambda: query.shape.convert(result)),
    }
    return {"calls": rows, "steps (sync, CPU µs)": steps}


def world(
    db: ForgeDB, raw: psycopg.Connection[Any], name: str
) -> tuple[User, Repository, Issue, str]:
    """An owner, a repository, an issue with a label, and a session of the owner written
    directly (no sign-in) with its token: what the single-row workloads read."""
    owner = db.users.create(username=f"{name}{os.getpid()}")
    repo = db.repositories.create(owner_id=owner.id, name=name)
    db.issues.labels.create(repo.id, actor_id=owner.id, name="bug")
    issue = db.issues.create(repo.id, actor_id=owner.id, title=name, labels=["bug"])
    token = secrets.token_urlsafe(32)
    raw.execute(
        "INSERT INTO auth_sessions (user_id, token_digest, expires_at, absolute_expires_at, "
        "idle_timeout) VALUES (%s, %s, now() + interval '6 days', now() + interval '30 days', "
        "interval '7 days')",
        (owner.id, hashlib.sha256(token.encode()).digest()),
    )
    return owner, repo, issue, token


def _checkout(db: ForgeDB) -> None:
    conn = pooling.getconn(db.pool, 10)
    db.pool.putconn(conn)


def run(url: str, iterations: int, rounds: int, sign_in: bool = True) -> dict[str, Any]:
    """Every workload, every implementation, interleaved; the step costs."""
    db = ForgeDB.connect(url, min_size=1, max_size=4)
    raw = psycopg.connect(url, autocommit=True)
    loop = asyncio.new_event_loop()
    adb = loop.run_until_complete(AsyncForgeDB.connect(url, min_size=1, max_size=4))
    araw = loop.run_until_complete(psycopg.AsyncConnection.connect(url, autocommit=True))
    try:
        owner, repo, issue, token = world(db, raw, "cost")
        # A page of 50 with two labels each: what building models costs per row.
        db.issues.labels.create(repo.id, actor_id=owner.id, name="docs")
        for n in range(60):
            db.issues.create(repo.id, actor_id=owner.id, title=f"page {n}", labels=["bug", "docs"])
        workloads: dict[str, tuple[Callable[[ForgeDB | AsyncForgeDB], Any], Callable[[], Any]]] = {
            "get issue (a read)": (
                lambda d: d.issues.get(repo.id, issue.number),
                lambda: Issues.get.query(db.issues, repo.id, issue.number),
            ),
            "session lookup (a write)": (
                lambda d: d.auth.get_session(token),
                lambda: Auth.get_session.query(db.auth, token),
            ),
            "list 50 issues with 2 labels each (a page)": (
                lambda d: d.issues.list(repo.id, labels=["bug"], limit=50),
                lambda: Issues.list.query(db.issues, repo.id, labels=["bug"], limit=50),
            ),
        }
        report: dict[str, Any] = {}
        for name, (call, build) in workloads.items():
            query = build()

            def raw_call(i: int, q: Any = query) -> Any:
                return raw.execute(q.sql, q.params).fetchall()

            async def araw_call(i: int, q: Any = query) -> Any:
                return await (await araw.execute(q.sql, q.params)).fetchall()

            def ours(n: int, c: Any = call) -> tuple[float, float]:
                return _per_call(lambda i: c(db), n)

            def theirs(n: int, f: Any = raw_call) -> tuple[float, float]:
                return _per_call(f, n)

            def ours_async(n: int, c: Any = call) -> tuple[float, float]:
                return _per_call_async(loop, lambda i: c(adb), n)

            def theirs_async(n: int, f: Any = araw_call) -> tuple[float, float]:
                return _per_call_async(loop, f, n)

            impls: dict[str, Callable[[int], tuple[float, float]]] = {
                "forge_db": ours,
                "raw psycopg": theirs,
                "forge_db async": ours_async,
                "raw psycopg async": theirs_async,
            }
            samples: dict[str, list[tuple[float, float]]] = {k: [] for k in impls}
            for measure in impls.values():
                measure(max(10, iterations // 10))  # warm up: prepared statements, caches
            for _ in range(rounds):
                for impl, measure in impls.items():
                    samples[impl].append(measure(iterations // rounds))
            rows = {
                impl: {
                    "median_us": statistics.median(w for w, _ in values),
                    "cpu_us": statistics.median(c for _, c in values),
                }
                for impl, values in samples.items()
            }
            for mine, base in (
                ("forge_db", "raw psycopg"),
                ("forge_db async", "raw psycopg async"),
            ):
                rows[mine]["vs_raw"] = rows[mine]["median_us"] / rows[base]["median_us"]
                rows[mine]["cpu_over_raw_us"] = rows[mine]["cpu_us"] - rows[base]["cpu_us"]
            report[name] = rows
        report["steps (get issue, sync, CPU µs)"] = _steps(
            db, workloads["get issue (a read)"][1], iterations * 10
        )
        report["steps (list 50 issues, sync, CPU µs)"] = _steps(
            db, workloads["list 50 issues with 2 labels each (a page)"][1], iterations
        )
        if sign_in:
            report["SIWE sign-in"] = sign_in_cost(db, raw, max(60, iterations // 10), rounds)
        return report
    finally:
        loop.run_until_complete(araw.close())
        loop.run_until_complete(adb.close())
        loop.close()
        raw.close()
        db.close()


@contextmanager
def scratch_database(server: str | None, what: str) -> Iterator[tuple[str, str | None]]:
    """A fresh migrated database on ``server`` (a fresh embedded PostgreSQL if ``None``):
    its URL and the server's version; dropped (and the embedded server stopped) after."""
    with tempfile.TemporaryDirectory(prefix=f"forge-{what}-", dir="/tmp") as scratch:
        server_url = server or embedded.ensure_server(Path(scratch) / "pg").url
        name = f"forge_{what}_{os.getpid()}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
            version = admin.execute("SHOW server_version").fetchone()
        try:
            url = with_dbname(server_url, name)
            migrations.migrate(url)
            yield url, version[0] if version else None
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not server:
                embedded.stop_server(Path(scratch) / "pg")


def save(output: Path, label: str, about: dict[str, Any], report: dict[str, Any]) -> None:
    """Keep ``report`` under ``label`` in the results file ``output`` (other labels stay)."""
    saved = json.loads(output.read_text()) if output.exists() else {}
    saved[label] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **about,
        "psycopg": psycopg.__version__,
        "load_average_after": os.getloadavg(),
        "results": report,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and save under ``--label`` in the results file (kept across runs)."""
    parser = argparse.ArgumentParser(prog="python -m bench.call_cost", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--label", default="after", help="key of this run in the results file")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-sign-in", action="store_true", help="skip the SIWE sign-in part")
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "2026-12-01-call-cost.json", help="results file"
    )
    args = parser.parse_args(argv)
    with scratch_database(args.url, "cost") as (url, version):
        report = run(url, args.iterations, args.rounds, not args.no_sign_in)
    save(args.output, args.label, {"server": version, "iterations": args.iterations}, report)
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
