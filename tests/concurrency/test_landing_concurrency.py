"""The landing queue under real concurrency: threads with their own connections."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import psycopg
from support import make_repository, make_user

from forge_db import ForgeDB
from forge_db.landing import LandingRequest

_BOOKMARKS = ("main", "release", "dev")


def _change(n: int) -> str:
    return "".join("klmnopqrstuvwxyz"[(n >> (4 * i)) & 15] for i in range(32))


def _run(threads: int, work: Callable[[int], None]) -> list[BaseException]:
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_sixteen_workers_three_bookmarks_one_running_batch_each_and_everything_lands(
    db: ForgeDB, database_url: str
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    total = 300
    for n in range(total):
        db.landing.submit(
            repo.id,
            actor_id=owner.id,
            change_id=_change(n + 1),
            commit_id=format(n + 1, "040x"),
            bookmark=_BOOKMARKS[n % 3],
            title=f"change {n}",
            priority=n % 5,
        )
    claimed: list[int] = []
    landed = Counter[str]()
    lock = threading.Lock()
    stop = threading.Event()
    violations: list[tuple[str, int]] = []
    samples = [0]

    def sample() -> None:
        # Reads landing_queue all along: never two running batches on one bookmark.
        with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    """
                    SELECT target_bookmark, count(DISTINCT batch_id)::int FROM landing_queue
                    WHERE repository_id = %s AND state = 'running'
                    GROUP BY target_bookmark HAVING count(DISTINCT batch_id) > 1
                    """,
                    (repo.id,),
                ).fetchall()
                violations.extend(rows)
                samples[0] += 1

    def work(index: int) -> None:
        rng = random.Random(index)
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            while True:
                claim = own.landing.claim(
                    f"worker-{index}", 60, repository_id=repo.id, batch_size=rng.randint(1, 3)
                )
                if claim is None:
                    with lock:
                        if sum(landed.values()) == total:
                            return
                    continue
                with lock:
                    claimed.extend(r.id for r in claim.requests)
                own.landing.finish(
                    claim.batch_id,
                    token=claim.fencing_token,
                    landed_commit_id=format(claim.batch_id, "040x"),
                )
                with lock:
                    landed[claim.target_bookmark] += len(claim.requests)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        errors = _run(16, work)
    finally:
        stop.set()
        sampler.join()
    assert errors == []
    assert violations == []
    assert samples[0] > 0
    assert len(claimed) == total
    assert len(set(claimed)) == total
    assert landed == dict.fromkeys(_BOOKMARKS, total // 3)
    with db.connection() as conn:
        states = conn.execute(
            "SELECT state, count(*) FROM landing_queue WHERE repository_id = %s GROUP BY 1",
            (repo.id,),
        ).fetchall()
    assert states == [("landed", total)]


def _wait_for_lock_waiters(url: str, count: int, within: float = 60.0) -> None:
    """Return once ``count`` sessions of this database wait for a lock; fail after ``within``."""
    deadline = time.monotonic() + within
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row is not None and row[0] >= count:
                return
            assert time.monotonic() < deadline, f"only {row} sessions wait for a lock"
            time.sleep(0.02)


def test_eight_concurrent_submits_of_one_change_give_one_request_and_one_number(
    db: ForgeDB, database_url: str
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    results: list[LandingRequest] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            request = own.landing.submit(
                repo.id,
                actor_id=owner.id,
                change_id=_change(7),
                commit_id="a" * 40,
                bookmark="main",
                title=f"attempt {index}",
            )
            with lock:
                results.append(request)

    for _ in range(3):
        results.clear()
        errors: list[BaseException] = []
        # The repository's number counter, held: every submit is under way, waiting on it, when
        # it is let go, so they race however slowly the threads start.
        with psycopg.connect(database_url) as holder:
            holder.execute(
                "INSERT INTO issue_counters (repository_id) VALUES (%s) ON CONFLICT DO NOTHING",
                (repo.id,),
            )
            holder.commit()
            holder.execute(
                "SELECT FROM issue_counters WHERE repository_id = %s FOR UPDATE", (repo.id,)
            )
            submits = threading.Thread(target=lambda found=errors: found.extend(_run(8, work)))
            submits.start()
            _wait_for_lock_waiters(database_url, 8)
            holder.commit()
        submits.join()
        assert errors == []
        assert len({r.id for r in results}) == 1
        assert len({r.number for r in results}) == 1
        request = results[0]
        db.landing.cancel(repo.id, request.number, actor_id=owner.id)
    issue = db.issues.create(repo.id, actor_id=owner.id, title="after")
    assert issue.number == 4  # three requests, three numbers, no gap


def test_a_worker_that_stops_renewing_is_taken_over_under_contention(
    db: ForgeDB, database_url: str
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    db.landing.submit(
        repo.id,
        actor_id=owner.id,
        change_id=_change(1),
        commit_id="b" * 40,
        bookmark="main",
        title="slow",
    )
    first = db.landing.claim("stalled", 60, repository_id=repo.id)
    assert first is not None
    with db.connection() as conn:
        conn.execute(
            "UPDATE landing_batches SET lease_expires_at = now() - interval '1 second'"
            " WHERE id = %s",
            (first.batch_id,),
        )
    takers: list[int] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            claim = own.landing.claim(f"w{index}", 60, repository_id=repo.id)
            if claim is not None:
                with lock:
                    takers.append(claim.fencing_token)

    assert _run(8, work) == []
    assert len(takers) == 1
    assert takers[0] > first.fencing_token
