"""Issues under real concurrency: threads with their own connections."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import psycopg
from support import make_repository, make_user

from forge_db import Conflict, ForgeDB


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


def test_sixteen_writers_keep_numbers_gapless_and_counts_exact(
    db: ForgeDB, database_url: str
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)

    def work(index: int) -> None:
        rng = random.Random(index)
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            for n in range(12):
                issue = own.issues.create(repo.id, actor_id=owner.id, title=f"t{index}-{n}")
                for _ in range(rng.randint(0, 2)):
                    own.issues.comments.create(repo.id, issue.number, actor_id=owner.id, body="c")
                if rng.random() < 0.3:
                    own.issues.close(repo.id, issue.number, actor_id=owner.id)

    assert _run(16, work) == []
    with db.connection() as conn:
        numbers = [
            r[0]
            for r in conn.execute(
                "SELECT number FROM issues WHERE repository_id = %s ORDER BY 1", (repo.id,)
            )
        ]
        drift = conn.execute(
            "SELECT count(*) FROM issues i WHERE comment_count <> "
            "(SELECT count(*) FROM comments c WHERE c.issue_id = i.id AND c.deleted_at IS NULL)"
        ).fetchone()
    assert numbers == list(range(1, 16 * 12 + 1))
    assert drift == (0,)
    assert db.issues.admin_check_counts(repo.id) == []
    counts = db.issues.counts(repo.id)
    assert counts.open + counts.closed == 16 * 12


def test_paging_while_others_write_sees_every_existing_issue_once(
    db: ForgeDB, database_url: str, conn: psycopg.Connection
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    conn.execute(
        """
        INSERT INTO issues (repository_id, number, author_id, title, created_at)
        SELECT %s, n, %s, 'bulk ' || n, now() - (10000 - n) * interval '1 second'
        FROM generate_series(1, 10000) AS n
        """,
        (repo.id, owner.id),
    )
    conn.execute("SELECT repair_issue_counter(%s)", (repo.id,))
    stop, writing = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        rng = random.Random(7)
        try:
            with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
                while not stop.is_set():
                    own.issues.create(repo.id, actor_id=owner.id, title="late")
                    own.issues.close(repo.id, rng.randint(1, 10000), actor_id=owner.id)
                    writing.set()
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            writing.set()

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        writing.wait()  # the first page is read after the writer has committed
        seen: list[int] = []
        cursor = None
        while True:
            page = db.issues.list(repo.id, state="all", limit=100, cursor=cursor)
            seen += [i.number for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    finally:
        stop.set()
        writer.join()
    assert errors == []
    existing = [n for n in seen if n <= 10000]
    assert sorted(existing) == list(range(1, 10001))
    assert len(existing) == len(set(existing))


def test_concurrent_opposite_dependencies_one_wins_one_conflicts(
    db: ForgeDB, database_url: str
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    for n in range(2):
        db.issues.create(repo.id, actor_id=owner.id, title=f"t{n}")
    outcomes: list[str] = []

    def work(index: int) -> None:
        blocking, blocked = (1, 2) if index == 0 else (2, 1)
        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            try:
                own.issues.links.add_dependency(
                    repo.id, actor_id=owner.id, blocking=blocking, blocked=blocked
                )
                outcomes.append("added")
            except Conflict:
                outcomes.append("conflict")

    for _ in range(10):
        outcomes.clear()
        with db.connection() as conn:
            conn.execute("DELETE FROM issue_dependencies")
        assert _run(2, work) == []
        assert sorted(outcomes) == ["added", "conflict"]
