"""Concurrency of the coordination domain under real connections (one per thread): a lease has
at most one holder at a time, a decision has exactly one outcome, a rate limit lets exactly its
limit through."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from forge_db import Conflict, ForgeDB

Conn = psycopg.Connection[Any]

THREADS = 32


def _in_threads(count: int, work: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, index, barrier) for index in range(count)]
        return [f.result(timeout=300) for f in futures]


def test_a_lease_has_at_most_one_holder_at_a_time(database_url: str, conn: Conn) -> None:
    conn.execute("CREATE TABLE fenced_resource (id int PRIMARY KEY, token bigint NOT NULL)")
    conn.execute("INSERT INTO fenced_resource VALUES (1, 0)")
    lock = threading.Lock()
    holding: list[str] = []  # the shadow log's current holder, set while the lease is held
    grants: list[int] = []  # tokens in the order the lease was granted
    overlaps: list[tuple[str, list[str]]] = []
    with ForgeDB.connect(database_url, min_size=2, max_size=THREADS) as db:
        leases = db.coordination.leases

        def work(index: int, barrier: threading.Barrier) -> int:
            me = f"worker-{index}"
            won = 0
            barrier.wait()
            for _ in range(20_000):
                if won == 2:
                    break
                grant = leases.acquire("hot", me, ttl=60)
                if not grant.acquired:
                    continue
                with lock:
                    if holding:
                        overlaps.append((me, list(holding)))
                    holding.append(me)
                    grants.append(grant.fencing_token)
                # The guarded write presents the token: a smaller one than the resource saw
                # would change nothing.
                with db.connection() as own:
                    changed = own.execute(
                        "UPDATE fenced_resource SET token = %(t)s WHERE id = 1 AND token < %(t)s",
                        {"t": grant.fencing_token},
                    ).rowcount
                assert changed == 1
                won += 1
                with lock:
                    holding.remove(me)
                assert leases.release("hot", me, token=grant.fencing_token)
            return won

        won = _in_threads(THREADS, work)
    assert overlaps == []
    assert won == [2] * THREADS
    assert len(grants) == 2 * THREADS
    assert grants == sorted(grants)
    assert len(set(grants)) == len(grants)
    final = conn.execute("SELECT token FROM fenced_resource").fetchone()
    assert final is not None
    assert final[0] == grants[-1]


def test_a_concurrent_decide_and_expire_due_give_exactly_one_outcome(
    database_url: str, conn: Conn
) -> None:
    conn.execute("INSERT INTO users (username) VALUES ('judge')")
    judge = conn.execute("SELECT id FROM users WHERE username = 'judge'").fetchone()
    assert judge is not None
    rounds = 40
    with ForgeDB.connect(database_url, min_size=2, max_size=4) as db:
        decisions = db.coordination.decisions
        ids = [
            decisions.request(
                "merge", f"land {n}?", options=["yes", "no"], default="no", timeout=3600
            ).id
            for n in range(rounds)
        ]
        # Every one is overdue: the sweeper may take it, and a human may still answer.
        conn.execute(
            "UPDATE decisions SET created_at = now() - interval '2 hours', "
            "expires_at = now() - interval '1 second'"
        )
        outcomes: list[tuple[str, Any]] = []
        lock = threading.Lock()

        def work(index: int, barrier: threading.Barrier) -> None:
            for decision_id in ids:
                barrier.wait()
                if index == 0:
                    try:
                        decided = decisions.decide(decision_id, choice="yes", actor_id=judge[0])
                        with lock:
                            outcomes.append(("decided", decided.id))
                    except Conflict:
                        with lock:
                            outcomes.append(("refused", decision_id))
                else:
                    for resolved in decisions.expire_due(batch=1):
                        with lock:
                            outcomes.append(("auto", resolved.id))

        _in_threads(2, work)
    for decision_id in ids:
        mine = [kind for kind, seen in outcomes if seen == decision_id]
        assert sorted(mine) in (["decided"], ["auto", "refused"]), (decision_id, mine)
    states = dict(conn.execute("SELECT state, count(*) FROM decisions GROUP BY 1").fetchall())
    decided = sum(1 for kind, _ in outcomes if kind == "decided")
    assert states == {
        k: v for k, v in {"decided": decided, "auto_resolved": rounds - decided}.items() if v
    }


def test_a_rate_limit_lets_exactly_its_limit_through_under_contention(database_url: str) -> None:
    limit = 100
    with ForgeDB.connect(database_url, min_size=2, max_size=THREADS) as db:
        hit = db.coordination.limits.hit

        def work(index: int, barrier: threading.Barrier) -> int:
            barrier.wait()
            return sum(hit("user:1:issues.create", limit, 3600).allowed for _ in range(10))

        allowed = _in_threads(THREADS, work)
        after = db.coordination.limits.hit("user:1:issues.create", limit, 3600, cost=0)
    # 320 hits within moments of an hour-long window: the refill in that time is a small
    # fraction of one token, so exactly the limit gets through.
    assert sum(allowed) == limit
    assert after.remaining == 0
