"""The landing queue's costs, side by side in one run: ``python -m bench.landing``.

One process, one server (a fresh embedded PostgreSQL unless ``--url``), implementations
interleaved in rounds so that a checkpoint or a noisy neighbour hits them alike.

- **claim and finish, 8 workers**: ``db.landing.claim`` then ``db.landing.finish`` from 8
  threads (one connection each) over 16 bookmarks; against pgbench running the very statements
  forge_db sends (``\\gset`` carries the batch and its token from the claim to the finish), and
  against a naive queue that claims with ``SELECT ... FOR UPDATE`` without ``SKIP LOCKED``;
- **claim latency** at a queue depth of 1,000 and of 100,000 (one bookmark; each claim is given
  back with ``requeue``, untimed, so the depth stays put);
- **review summary** of a request with 50 reviews and 500 line comments (approvals, statuses,
  conflicts, threads): ``db.landing.reviews.summary`` against raw psycopg running the same
  statement, and against the SQLAlchemy ORM loading the rows and deciding in Python.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from sqlalchemy import ForeignKey, Text, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, mapped_column

from forge_db import ForgeDB, embedded, migrations
from forge_db.config import with_dbname

from . import orm
from .run import (
    RESULTS,
    Batch,
    Row,
    interleaved,
    latency,
    literal_sql,
    machine,
    pgbench,
    sync_batch,
    table,
)

WORKERS = 8
BOOKMARKS = 16
PER_REPOSITORY = 60_000
LANDED = "c" * 40


# --- the ORM's view of the tables the summary reads ---------------------------------------------


class LandingRequest(orm.Base):
    __tablename__ = "landing_queue"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    number: Mapped[int]
    change_id: Mapped[str]
    commit_id: Mapped[str | None]
    target_bookmark: Mapped[str]


class LandingReview(orm.Base):
    __tablename__ = "landing_reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int]
    landing_id: Mapped[int] = mapped_column(ForeignKey("landing_queue.id"))
    reviewer_id: Mapped[int | None]
    state: Mapped[str]
    commit_id: Mapped[str | None]
    created_at: Mapped[datetime]


class LandingLineComment(orm.Base):
    __tablename__ = "landing_line_comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int]
    landing_id: Mapped[int] = mapped_column(ForeignKey("landing_queue.id"))
    in_reply_to_id: Mapped[int | None]
    resolved_at: Mapped[datetime | None]


class ProtectedBranch(orm.Base):
    __tablename__ = "protected_branches"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int]
    pattern: Mapped[str]
    required_approvals: Mapped[int]
    required_status_contexts: Mapped[list[str]] = mapped_column(ARRAY(Text))


class CommitStatus(orm.Base):
    __tablename__ = "commit_statuses"
    id: Mapped[str] = mapped_column(primary_key=True)
    repository_id: Mapped[int]
    commit_id: Mapped[str]
    context: Mapped[str]
    state: Mapped[str]
    updated_at: Mapped[datetime]


class ConflictRow(orm.Base):
    __tablename__ = "conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int]
    change_id: Mapped[str]
    resolved_at: Mapped[datetime | None]


def orm_summary(engine: Any, repository_id: int, number: int) -> dict[str, Any]:
    """The review summary as the ORM's documentation would have it: load, then decide."""
    with Session(engine) as session:
        repo = session.get(orm.Repository, repository_id)
        if repo is None or repo.private:
            raise LookupError("not found")
        request = session.scalars(
            select(LandingRequest).where(
                LandingRequest.repository_id == repository_id, LandingRequest.number == number
            )
        ).one()
        rules = [
            rule
            for rule in session.scalars(
                select(ProtectedBranch).where(ProtectedBranch.repository_id == repository_id)
            )
            if fnmatch.fnmatchcase(request.target_bookmark, rule.pattern)
        ]
        required = max((r.required_approvals for r in rules), default=0)
        contexts = sorted({c for r in rules for c in r.required_status_contexts})
        latest: dict[int, LandingReview] = {}
        for review in session.scalars(
            select(LandingReview)
            .where(
                LandingReview.repository_id == repository_id,
                LandingReview.landing_id == request.id,
                LandingReview.state != "dismissed",
            )
            .order_by(LandingReview.created_at, LandingReview.id)
        ):
            if review.reviewer_id is not None:
                latest[review.reviewer_id] = review
        approved = [r for r in latest.values() if r.state == "approved"]
        approvals = sum(r.commit_id == request.commit_id for r in approved)
        changes = sum(r.state == "changes_requested" for r in latest.values())
        statuses: dict[str, CommitStatus] = {}
        for status in session.scalars(
            select(CommitStatus).where(
                CommitStatus.repository_id == repository_id,
                CommitStatus.commit_id == request.commit_id,
                CommitStatus.context.in_(contexts),
            )
        ):
            statuses[status.context] = status
        passing = sorted(c for c, s in statuses.items() if s.state == "success")
        conflicts = session.scalar(
            select(func.count())
            .select_from(ConflictRow)
            .where(
                ConflictRow.repository_id == repository_id,
                ConflictRow.change_id == request.change_id,
                ConflictRow.resolved_at.is_(None),
            )
        )
        comments = session.scalar(
            select(func.count())
            .select_from(LandingLineComment)
            .where(
                LandingLineComment.repository_id == repository_id,
                LandingLineComment.landing_id == request.id,
            )
        )
        threads = session.scalar(
            select(func.count())
            .select_from(LandingLineComment)
            .where(
                LandingLineComment.repository_id == repository_id,
                LandingLineComment.landing_id == request.id,
                LandingLineComment.in_reply_to_id.is_(None),
                LandingLineComment.resolved_at.is_(None),
            )
        )
        ready = conflicts == 0 and (
            not rules
            or (
                approvals >= required
                and (required == 0 or changes == 0)
                and set(contexts) <= set(passing)
            )
        )
        return {
            "approvals": approvals,
            "stale": len(approved) - approvals,
            "passing": passing,
            "conflicts": conflicts,
            "comments": comments,
            "threads": threads,
            "ready": ready,
        }


# --- the data --------------------------------------------------------------------------------


def _repository(conn: psycopg.Connection[Any], owner: int, name: str) -> int:
    row = conn.execute(
        "INSERT INTO repositories (owner_id, name) VALUES (%s, %s) RETURNING id", (owner, name)
    ).fetchone()
    assert row is not None
    return int(row[0])


def _queue(
    conn: psycopg.Connection[Any], repository: int, author: int, count: int, bookmarks: int
) -> None:
    """``count`` queued requests over ``bookmarks`` bookmarks (b0, b1, ...), numbered 1..count.

    Loaded with the row triggers off (each would raise the repository's one counter row again,
    and a transaction's run of updates to one row costs more the longer it grows); the queues
    and the counter are then made as the triggers would have.
    """
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            """
            INSERT INTO landing_queue (repository_id, number, author_id, change_id, commit_id,
                                       target_bookmark, title)
            SELECT %(repository)s, n, %(author)s,
                   translate(lpad(to_hex(n), 32, '0'), '0123456789abcdef', 'klmnopqrstuvwxyz'),
                   lpad(to_hex(n), 40, '0'), 'b' || (n %% %(bookmarks)s), 'change ' || n
            FROM generate_series(1, %(count)s) AS n
            """,
            {"repository": repository, "author": author, "count": count, "bookmarks": bookmarks},
        )
        conn.execute(
            "INSERT INTO landing_queues (repository_id, bookmark)"
            " SELECT %s, 'b' || n FROM generate_series(0, %s) AS n",
            (repository, bookmarks - 1),
        )
    conn.execute("SELECT repair_issue_counter(%s)", (repository,))


_REVIEW_DATA: tuple[LiteralString, ...] = (
    """
    INSERT INTO protected_branches (repository_id, pattern, required_approvals,
                                        required_status_contexts)
        VALUES (%(r)s, 'b*', 2, '{ci/test,ci/lint}')
    """,
    """
    INSERT INTO users (username) SELECT 'reviewer' || n FROM generate_series(1, 50) n
    """,
    """
    INSERT INTO landing_reviews (repository_id, landing_id, reviewer_id, state, body,
                                     commit_id)
        SELECT %(r)s, l.id, u.id,
               CASE WHEN n %% 5 = 0 THEN 'changes_requested' WHEN n %% 2 = 0
                    THEN 'approved' ELSE 'commented' END,
               'review ' || n, CASE WHEN n %% 3 = 0 THEN repeat('e', 40) ELSE l.commit_id END
        FROM landing_queue l, generate_series(1, 50) n
        JOIN users u ON u.username = 'reviewer' || n
        WHERE l.repository_id = %(r)s
    """,
    """
    INSERT INTO landing_line_comments (repository_id, landing_id, author_id, commit_id,
                                           path, line, body, resolved_at)
        SELECT %(r)s, l.id, l.author_id, l.commit_id, 'src/file' || (n %% 20) || '.rs', n,
               'comment ' || n, CASE WHEN n %% 4 = 0 THEN now() END
        FROM landing_queue l, generate_series(1, 500) n WHERE l.repository_id = %(r)s
    """,
    """
    INSERT INTO commit_statuses (repository_id, commit_id, context, state)
        SELECT %(r)s, l.commit_id, c, 'success'
        FROM landing_queue l, unnest('{ci/test,ci/lint,ci/extra}'::text[]) c
        WHERE l.repository_id = %(r)s
    """,
    """
    INSERT INTO conflicts (repository_id, change_id, commit_id, path, resolved_at,
                               resolved_commit_id)
        SELECT %(r)s, l.change_id, repeat('e', 40), 'src/file' || n || '.rs', now(),
               l.commit_id
        FROM landing_queue l, generate_series(1, 2) n WHERE l.repository_id = %(r)s
    """,
)


def load(url: str) -> dict[str, int]:
    """The repositories and rows every workload needs."""
    with psycopg.connect(url, autocommit=True) as conn:
        owner = conn.execute("INSERT INTO users (username) VALUES ('bench') RETURNING id")
        author = int(owner.fetchone()[0])  # type: ignore[index]
        ids = {
            name: _repository(conn, author, name)
            for name in ("forge", "pgbench", "depth-1k", "depth-100k", "review")
        }
        _queue(conn, ids["forge"], author, PER_REPOSITORY, BOOKMARKS)
        _queue(conn, ids["pgbench"], author, PER_REPOSITORY, BOOKMARKS)
        _queue(conn, ids["depth-1k"], author, 1_000, 1)
        _queue(conn, ids["depth-100k"], author, 100_000, 1)
        conn.execute(
            """
            CREATE TABLE naive_queue (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                      priority integer NOT NULL DEFAULT 0,
                                      state text NOT NULL DEFAULT 'queued')
            """
        )
        conn.execute(
            "CREATE INDEX naive_queue_claim_idx ON naive_queue (priority DESC, id)"
            " WHERE state = 'queued'"
        )
        conn.execute(
            "INSERT INTO naive_queue (priority) SELECT 0 FROM generate_series(1, %s)",
            (PER_REPOSITORY,),
        )
        review = ids["review"]
        _queue(conn, review, author, 1, 1)
        for statement in _REVIEW_DATA:
            conn.execute(statement, {"r": review})
        conn.execute("ANALYZE")
    return ids


# --- workloads -------------------------------------------------------------------------------


def _claim_finish(url: str, ids: dict[str, int], seconds: float) -> list[Row]:
    workload = f"claim and finish, {WORKERS} workers"
    dbs = [ForgeDB.connect(url, min_size=1, max_size=1) for _ in range(WORKERS)]
    naive = [psycopg.connect(url, autocommit=True) for _ in range(WORKERS)]
    try:
        scripts = _pgbench_script(dbs[0], url, ids["pgbench"])

        def forge(slice_seconds: float) -> Row:
            def work(client: int, i: int) -> None:
                db = dbs[client]
                claim = db.landing.claim(f"w{client}", 60, repository_id=ids["forge"])
                if claim is not None:
                    db.landing.finish(
                        claim.batch_id, token=claim.fencing_token, landed_commit_id=LANDED
                    )

            return _throughput(workload, "forge_db", slice_seconds, work)

        def naive_queue(slice_seconds: float) -> Row:
            def work(client: int, i: int) -> None:
                conn = naive[client]
                with conn.transaction():
                    row = conn.execute(
                        "SELECT id FROM naive_queue WHERE state = 'queued'"
                        " ORDER BY priority DESC, id LIMIT 1 FOR UPDATE"
                    ).fetchone()
                    if row is None:  # the head was taken while this one waited: try again
                        raise _Retry
                    conn.execute("UPDATE naive_queue SET state = 'running' WHERE id = %s", row)
                conn.execute("UPDATE naive_queue SET state = 'landed' WHERE id = %s", row)

            return _throughput(workload, "naive FOR UPDATE", slice_seconds, work)

        def bench(slice_seconds: float) -> Row | None:
            return pgbench(workload, url, scripts, WORKERS, max(1, round(slice_seconds)))

        return interleaved(
            workload,
            {"forge_db": forge, "pgbench": bench, "naive FOR UPDATE": naive_queue},
            seconds,
        )
    finally:
        for db in dbs:
            db.close()
        for conn in naive:
            conn.close()


class _Retry(Exception):
    """A naive claim that found nothing after waiting: not counted."""


def _throughput(workload: str, name: str, seconds: float, work: Any) -> Row:
    counts = [0] * WORKERS
    stop = threading.Event()
    barrier = threading.Barrier(WORKERS + 1)

    def client(index: int) -> None:
        barrier.wait()
        i = 0
        while not stop.is_set():
            try:
                work(index, i)
            except _Retry:
                continue
            i += 1
        counts[index] = i

    threads = [threading.Thread(target=client, args=(c,)) for c in range(WORKERS)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)  # the measuring window, not synchronisation
    stop.set()
    for t in threads:
        t.join()
    return Row(workload, name, "ops/s", sum(counts) / (time.perf_counter() - started))


def _pgbench_script(db: ForgeDB, url: str, repository_id: int) -> str:
    """forge_db's own claim and finish statements, the batch and token carried by ``\\gset``."""
    claim = db.landing.claim.query("pgbench", 60, repository_id=repository_id)
    finish = db.landing.finish.query(
        111_111_111_111, token=222_222_222_222, landed_commit_id=LANDED
    )
    with psycopg.connect(url) as conn:
        claim_sql = literal_sql(conn, claim).rstrip().rstrip(";")
        finish_sql = literal_sql(conn, finish)
    finish_sql = finish_sql.replace("111111111111", ":batch_id").replace(
        "222222222222", ":fencing_token"
    )
    return f"{claim_sql}\n\\gset\n{finish_sql}"


def _claim_latency(url: str, ids: dict[str, int], iterations: int) -> list[Row]:
    rows = []
    with ForgeDB.connect(url, min_size=1, max_size=1) as db:

        def timed(repository: int) -> Batch:
            def batch(n: int) -> list[int]:
                out = []
                for _ in range(n):
                    start = time.perf_counter_ns()
                    claim = db.landing.claim("lat", 60, repository_id=repository)
                    out.append(time.perf_counter_ns() - start)
                    assert claim is not None
                    db.landing.requeue(claim.batch_id, token=claim.fencing_token)
                return out

            return batch

        batches = {name: timed(ids[name]) for name in ("depth-1k", "depth-100k")}
        for row in latency("claim latency by queue depth", batches, iterations):
            row.implementation = {"depth-1k": "depth 1,000", "depth-100k": "depth 100,000"}[
                row.implementation
            ]
            rows.append(row)
    return rows


def _summary(url: str, ids: dict[str, int], iterations: int) -> list[Row]:
    workload = "review summary, 50 reviews, 500 line comments"
    engine = orm.engine(url)
    with (
        ForgeDB.connect(url, min_size=1, max_size=1) as db,
        psycopg.connect(url, autocommit=True) as raw,
    ):
        query = db.landing.reviews.summary.query(ids["review"], 1)
        expected = db.landing.reviews.summary(ids["review"], 1)
        checked = orm_summary(engine, ids["review"], 1)
        assert (checked["approvals"], checked["ready"]) == (expected.approvals, expected.ready)

        def forge(i: int) -> Any:
            return db.landing.reviews.summary(ids["review"], 1)

        def psycopg_raw(i: int) -> Any:
            return raw.execute(query.sql, query.params).fetchall()

        def sqlalchemy(i: int) -> Any:
            return orm_summary(engine, ids["review"], 1)

        rows = latency(
            workload,
            {
                "forge_db": sync_batch(forge),
                "raw psycopg": sync_batch(psycopg_raw),
                "SQLAlchemy ORM": sync_batch(sqlalchemy),
            },
            iterations,
        )
    engine.dispose()
    return rows


def _ratios(rows: list[Row]) -> None:
    by = {(row.workload, row.implementation): row for row in rows}
    for row in rows:
        if row.workload.startswith("claim and finish") and row.implementation == "forge_db":
            for base in ("pgbench", "naive FOR UPDATE"):
                other = by.get((row.workload, base))
                if other is not None:
                    row.ratios[f"/ {base}"] = row.median / other.median
        if row.workload.startswith("claim latency") and row.implementation == "depth 100,000":
            row.ratios["/ depth 1,000"] = row.median / by[(row.workload, "depth 1,000")].median
        if row.workload.startswith("review summary") and row.implementation == "forge_db":
            for base in ("raw psycopg", "SQLAlchemy ORM"):
                row.ratios[f"/ {base}"] = row.median / by[(row.workload, base)].median


def main(argv: list[str] | None = None) -> int:
    """Measure, print a table, and save the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.landing", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--seconds", type=float, default=15.0, help="throughput window per run")
    parser.add_argument("--iterations", type=int, default=1000, help="calls per latency row")
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
            migrations.migrate(url)
            ids = load(url)
            rows = _claim_finish(url, ids, args.seconds)
            rows += _claim_latency(url, ids, args.iterations)
            rows += _summary(url, ids, args.iterations)
            _ratios(rows)
            report = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "mode": (
                    f"landing: {args.seconds:g} s of throughput per implementation in 3 rounds, "
                    f"{args.iterations} calls per latency row in 5 rounds"
                ),
                "machine": machine(url),
                "seconds": round(time.monotonic() - started, 1),
                "rows": [asdict(row) for row in rows],
            }
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not args.url:
                embedded.stop_server(Path(scratch) / "pg")
    output = args.output or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-landing.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(table(rows))
    print(f"\n{report['seconds']} s; results in {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
