"""Concurrency: gapless numbering, shared sequences, counts, and cycle refusal under real
concurrent connections (one per thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from schema_factories import issue, repository, user

Conn = psycopg.Connection[Any]

THREADS = 32
ISSUES_PER_THREAD = 50


class _Rollback(Exception):
    """Raised inside a transaction to roll it back on purpose."""


def _in_threads(count: int, work: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, index, barrier) for index in range(count)]
        return [f.result(timeout=120) for f in futures]


def _create_issues(database_url: str, repository_id: int, barrier: threading.Barrier) -> int:
    """Create ISSUES_PER_THREAD issues, each in its own transaction; every tenth rolls back."""
    committed = 0
    with psycopg.connect(database_url, prepare_threshold=None) as conn:
        barrier.wait()
        for i in range(ISSUES_PER_THREAD):
            try:
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO issues (repository_id, number, title)"
                        " VALUES (%(r)s, get_next_issue_number(%(r)s), %(t)s)",
                        {"r": repository_id, "t": f"issue {i}"},
                    )
                    if i % 10 == 9:
                        raise _Rollback
                committed += 1
            except _Rollback:
                pass
    return committed


def _numbers(conn: Conn, repository_id: int) -> list[int]:
    rows = conn.execute(
        "SELECT number FROM issues WHERE repository_id = %s ORDER BY number", (repository_id,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def _assert_gapless_and_counted(conn: Conn, repository_id: int, committed: int) -> None:
    assert _numbers(conn, repository_id) == list(range(1, committed + 1))
    row = conn.execute(
        "SELECT last_number, open_issue_count FROM issue_counters WHERE repository_id = %s",
        (repository_id,),
    ).fetchone()
    assert row == (committed, committed)
    assert conn.execute("SELECT * FROM check_issue_counts(%s)", (repository_id,)).fetchall() == []


def test_concurrent_numbering_in_one_repository_is_gapless(conn: Conn, database_url: str) -> None:
    repo = repository(conn, user(conn))
    committed = _in_threads(THREADS, lambda _, barrier: _create_issues(database_url, repo, barrier))
    assert sum(committed) == THREADS * ISSUES_PER_THREAD * 9 // 10
    _assert_gapless_and_counted(conn, repo, sum(committed))


def test_concurrent_numbering_in_eight_repositories_is_gapless_per_repository(
    conn: Conn, database_url: str
) -> None:
    owner = user(conn)
    repos = [repository(conn, owner) for _ in range(8)]
    committed = _in_threads(
        THREADS, lambda index, barrier: _create_issues(database_url, repos[index % 8], barrier)
    )
    for offset, repo in enumerate(repos):
        _assert_gapless_and_counted(conn, repo, sum(committed[offset::8]))


def test_landing_requests_share_the_issue_sequence(conn: Conn, database_url: str) -> None:
    repo = repository(conn, user(conn))

    def work(index: int, barrier: threading.Barrier) -> None:
        with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as own:
            barrier.wait()
            for i in range(20):
                if (index + i) % 2:
                    issue(own, repo)
                else:
                    own.execute(
                        "INSERT INTO landing_queue (repository_id, number, change_id, target_bookmark, title)"
                        " VALUES (%(r)s, get_next_issue_number(%(r)s), %(c)s, 'main', 'land')",
                        {
                            "r": repo,
                            "c": "k" * 28
                            + format(index * 20 + i, "04x").translate(
                                str.maketrans("0123456789abcdef", "zyxwvutsrqponmlk")
                            ),
                        },
                    )

    _in_threads(8, work)
    rows = conn.execute(
        "SELECT number FROM issues WHERE repository_id = %(r)s"
        " UNION ALL SELECT number FROM landing_queue WHERE repository_id = %(r)s ORDER BY 1",
        {"r": repo},
    ).fetchall()
    assert [r[0] for r in rows] == list(range(1, 161))
    landing = conn.execute(
        "SELECT count(*) FROM landing_queue WHERE repository_id = %s", (repo,)
    ).fetchone()
    assert landing == (80,)


def test_repair_raises_the_counter_after_an_import(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    issue(conn, repo)  # counter at 1
    with conn.transaction():
        # A bulk import with triggers disabled, as COPY-based restores run.
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "INSERT INTO issues (repository_id, number, title) SELECT %s, n, 'imported'"
            " FROM generate_series(2, 40) AS n",
            (repo,),
        )
        conn.execute(
            "INSERT INTO landing_queue (repository_id, number, change_id, target_bookmark, title)"
            " VALUES (%s, 57, %s, 'main', 'imported')",
            (repo, "q" * 32),
        )
    row = conn.execute(
        "SELECT last_number FROM issue_counters WHERE repository_id = %s", (repo,)
    ).fetchone()
    assert row == (1,)
    assert conn.execute("SELECT repair_issue_counter(%s)", (repo,)).fetchone() == (57,)
    assert conn.execute("SELECT get_next_issue_number(%s)", (repo,)).fetchone() == (58,)
    # Repair never lowers a counter.
    assert conn.execute("SELECT repair_issue_counter(%s)", (repo,)).fetchone() == (58,)


def _wait_until_blocked(conn: Conn, pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError("the second transaction never waited for the first")


def _opposite_edges(
    conn: Conn, database_url: str, table: str, columns: str, *, commit_first: bool
) -> Any:
    """Insert a->b in one open transaction and b->a from a second connection that must wait."""
    repo = repository(conn, user(conn))
    a, b = issue(conn, repo), issue(conn, repo)
    insert = f"INSERT INTO {table} (repository_id, {columns}) VALUES (%s, %s, %s)"
    barrier = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def second() -> None:
        with psycopg.connect(database_url, prepare_threshold=None) as other:
            try:
                with other.transaction():
                    # Asked inside the transaction: through PgBouncer in transaction mode the
                    # server session is this transaction's, not the connection's.
                    row = other.execute("SELECT pg_backend_pid()").fetchone()
                    outcome["pid"] = row[0] if row else None
                    barrier.wait()  # the first transaction holds its edge now
                    other.execute(insert, (repo, b, a))
                outcome["second"] = "committed"
            except psycopg.Error as exc:
                outcome["second"] = exc

    with psycopg.connect(
        database_url, prepare_threshold=None
    ) as first:  # not autocommit: the transaction stays open
        thread = threading.Thread(target=second)
        first.execute(insert, (repo, a, b))
        thread.start()
        barrier.wait()
        _wait_until_blocked(conn, outcome["pid"])
        if commit_first:
            first.commit()
        else:
            first.rollback()
        thread.join(timeout=30)
    edges = conn.execute(
        f"SELECT {columns} FROM {table} WHERE repository_id = %s", (repo,)
    ).fetchall()
    return outcome["second"], edges, (a, b)


def test_opposite_dependencies_inserted_concurrently_cannot_both_commit(
    conn: Conn, database_url: str
) -> None:
    for table, columns, constraint in [
        ("issue_dependencies", "blocking_issue_id, blocked_issue_id", "issue_dependencies_acyclic"),
        ("subtasks", "parent_issue_id, child_issue_id", "subtasks_acyclic"),
    ]:
        second, edges, (a, b) = _opposite_edges(
            conn, database_url, table, columns, commit_first=True
        )
        assert isinstance(second, psycopg.Error), f"{table}: both edges committed"
        assert (second.sqlstate, second.diag.constraint_name) == ("FDC01", constraint)
        assert edges == [(a, b)]


def test_a_waiting_dependency_insert_proceeds_when_the_first_rolls_back(
    conn: Conn, database_url: str
) -> None:
    second, edges, (a, b) = _opposite_edges(
        conn,
        database_url,
        "issue_dependencies",
        "blocking_issue_id, blocked_issue_id",
        commit_first=False,
    )
    assert second == "committed"
    assert edges == [(b, a)]


def test_concurrent_assignments_never_exceed_ten(conn: Conn, database_url: str) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    people = [user(conn) for _ in range(16)]

    def assign(index: int, barrier: threading.Barrier) -> str:
        with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as own:
            barrier.wait()
            try:
                own.execute(
                    "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)",
                    (repo, target, people[index]),
                )
            except psycopg.Error as exc:
                return f"{exc.sqlstate}:{exc.diag.constraint_name}"
            return "assigned"

    results = _in_threads(16, assign)
    assert sorted(results) == ["FDC01:issue_assignees_limit"] * 6 + ["assigned"] * 10
    row = conn.execute(
        "SELECT assignee_count, (SELECT count(*) FROM issue_assignees WHERE issue_id = %s)"
        " FROM issues WHERE id = %s",
        (target, target),
    ).fetchone()
    assert row == (10, 10)
