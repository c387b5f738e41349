"""The issues tables refuse what the forge must never hold. Each test names the SQLSTATE and constraint
the Python layer maps."""

from __future__ import annotations

import itertools
from typing import Any

import psycopg
import pytest
from schema_factories import comment, issue, label, refused, repository, user

Conn = psycopg.Connection[Any]


def test_issue_titles_are_one_to_256_characters_and_not_blank(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = "INSERT INTO issues (repository_id, number, title) VALUES (%s, %s, %s)"
    for number, title in enumerate(["", "   ", "\n\t", "x" * 257], start=1):
        with refused("23514", "issues_title_check"):
            conn.execute(insert, (repo, number, title))
    conn.execute(insert, (repo, 1, "x" * 256))


def test_issue_bodies_are_at_most_65536_characters(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    conn.execute(
        "INSERT INTO issues (repository_id, number, title, body) VALUES (%s, 1, 't', %s)",
        (repo, "é" * 65536),
    )
    with refused("23514", "issues_body_check"):
        conn.execute(
            "INSERT INTO issues (repository_id, number, title, body) VALUES (%s, 2, 't', %s)",
            (repo, "é" * 65537),
        )


def test_an_oversized_body_is_refused_by_its_check_before_text_search_sees_it(conn: Conn) -> None:
    # A body of 150,000 distinct words would overflow tsvector (1 MB) while the generated
    # search column is computed, which happens before CHECK constraints run.
    repo = repository(conn, user(conn))
    with refused("23514", "issues_body_check"):
        conn.execute(
            "INSERT INTO issues (repository_id, number, title, body)"
            " SELECT %s, 1, 't', string_agg(left(md5(i::text), 8), ' ')"
            " FROM generate_series(1, 150000) AS i",
            (repo,),
        )


def test_a_close_reason_goes_with_the_closed_state(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    number = issue(conn, repo)
    with refused("23514", "issues_closed_check"):
        conn.execute("UPDATE issues SET state = 'closed' WHERE id = %s", (number,))
    with refused("23514", "issues_closed_check"):
        conn.execute("UPDATE issues SET close_reason = 'completed' WHERE id = %s", (number,))
    conn.execute(
        "UPDATE issues SET state = 'closed', close_reason = 'completed', closed_at = now() WHERE id = %s",
        (number,),
    )


def test_an_issue_can_only_duplicate_an_issue_of_its_repository(conn: Conn) -> None:
    alice = user(conn)
    here, there = repository(conn, alice), repository(conn, alice)
    original, duplicate = issue(conn, there), issue(conn, here)
    with refused("23503", "issues_duplicate_of_fkey"):
        conn.execute(
            "UPDATE issues SET state = 'closed', close_reason = 'duplicate', closed_at = now(),"
            " duplicate_of_id = %s WHERE id = %s",
            (original, duplicate),
        )


def test_labels_are_unique_per_repository_case_insensitively(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    label(conn, repo, "Bug")
    with refused("23505", "labels_repository_id_name_lower_key"):
        label(conn, repo, "BUG")


def test_a_label_of_another_repository_cannot_be_attached(conn: Conn) -> None:
    alice = user(conn)
    here, there = repository(conn, alice), repository(conn, alice)
    foreign = label(conn, there)
    with refused("23503", "issue_labels_label_fkey"):
        conn.execute(
            "INSERT INTO issue_labels (repository_id, issue_id, label_id) VALUES (%s, %s, %s)",
            (here, issue(conn, here), foreign),
        )
    # Claiming the label's repository does not help: then the issue is the foreign row.
    with refused("23503", "issue_labels_issue_fkey"):
        conn.execute(
            "INSERT INTO issue_labels (repository_id, issue_id, label_id) VALUES (%s, %s, %s)",
            (there, issue(conn, here), foreign),
        )


def test_an_issue_has_at_most_ten_assignees(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    insert = "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)"
    for _ in range(10):
        conn.execute(insert, (repo, target, user(conn)))
    with refused("FDC01", "issue_assignees_limit"):
        conn.execute(insert, (repo, target, user(conn)))
    row = conn.execute("SELECT assignee_count FROM issues WHERE id = %s", (target,)).fetchone()
    assert row == (10,)


def test_an_assignee_must_be_able_to_see_the_repository(conn: Conn) -> None:
    owner, stranger = user(conn), user(conn)
    repo = repository(conn, owner, private=True)
    target = issue(conn, repo)
    insert = "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)"
    with refused("FDI01", "issue_assignees_can_read"):
        conn.execute(insert, (repo, target, stranger))
    conn.execute(
        "INSERT INTO repository_collaborators (repository_id, user_id, role) VALUES (%s, %s, 'read')",
        (repo, stranger),
    )
    conn.execute(insert, (repo, target, stranger))


def test_unassigning_frees_an_assignee_slot(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    people = [user(conn) for _ in range(10)]
    conn.execute(
        "INSERT INTO issue_assignees (repository_id, issue_id, user_id)"
        " SELECT %s, %s, unnest(%s::bigint[])",
        (repo, target, people),
    )
    conn.execute("DELETE FROM issue_assignees WHERE user_id = %s", (people[0],))
    conn.execute(
        "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)",
        (repo, target, user(conn)),
    )


def test_a_duplicate_assignment_skipped_by_on_conflict_is_not_counted(conn: Conn) -> None:
    repo, person = repository(conn, user(conn)), user(conn)
    target = issue(conn, repo)
    for _ in range(2):
        conn.execute(
            "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (repo, target, person),
        )
    row = conn.execute("SELECT assignee_count FROM issues WHERE id = %s", (target,)).fetchone()
    assert row == (1,)


def test_an_issue_cannot_depend_on_itself(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    for table, columns in [
        ("issue_dependencies", "blocking_issue_id, blocked_issue_id"),
        ("subtasks", "parent_issue_id, child_issue_id"),
    ]:
        with refused("23514", f"{table}_no_self_check"):
            conn.execute(
                f"INSERT INTO {table} (repository_id, {columns}) VALUES (%s, %s, %s)",
                (repo, target, target),
            )


def test_dependency_cycles_of_any_length_are_refused(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = (
        "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
        " VALUES (%s, %s, %s)"
    )
    for length in (2, 3, 5):
        chain = [issue(conn, repo) for _ in range(length)]
        for blocking, blocked in itertools.pairwise(chain):
            conn.execute(insert, (repo, blocking, blocked))
        with refused("FDC01", "issue_dependencies_acyclic"):
            conn.execute(insert, (repo, chain[-1], chain[0]))


def test_a_cycle_within_one_statement_is_refused(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    a, b = issue(conn, repo), issue(conn, repo)
    with refused("FDC01", "issue_dependencies_acyclic"):
        conn.execute(
            "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
            " VALUES (%(r)s, %(a)s, %(b)s), (%(r)s, %(b)s, %(a)s)",
            {"r": repo, "a": a, "b": b},
        )


def test_dependency_diamonds_are_not_cycles(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    a, b, c, d = (issue(conn, repo) for _ in range(4))
    conn.execute(
        "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
        " VALUES (%(r)s, %(a)s, %(b)s), (%(r)s, %(a)s, %(c)s), (%(r)s, %(b)s, %(d)s), (%(r)s, %(c)s, %(d)s)",
        {"r": repo, "a": a, "b": b, "c": c, "d": d},
    )


def test_subtask_cycles_of_any_length_are_refused(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = (
        "INSERT INTO subtasks (repository_id, parent_issue_id, child_issue_id) VALUES (%s, %s, %s)"
    )
    for length in (2, 3, 4):
        chain = [issue(conn, repo) for _ in range(length)]
        for parent, child in itertools.pairwise(chain):
            conn.execute(insert, (repo, parent, child))
        with refused("FDC01", "subtasks_acyclic"):
            conn.execute(insert, (repo, chain[-1], chain[0]))


def test_a_subtask_has_one_parent(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    first, second, child = (issue(conn, repo) for _ in range(3))
    insert = (
        "INSERT INTO subtasks (repository_id, parent_issue_id, child_issue_id) VALUES (%s, %s, %s)"
    )
    conn.execute(insert, (repo, first, child))
    with refused("23505", "subtasks_one_parent_key"):
        conn.execute(insert, (repo, second, child))


def test_dependencies_across_repositories_are_refused(conn: Conn) -> None:
    alice = user(conn)
    here, there = repository(conn, alice), repository(conn, alice)
    with refused("23503", "issue_dependencies_blocked_fkey"):
        conn.execute(
            "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
            " VALUES (%s, %s, %s)",
            (here, issue(conn, here), issue(conn, there)),
        )


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("issue_dependencies", "blocking_issue_id, blocked_issue_id"),
        ("subtasks", "parent_issue_id, child_issue_id"),
    ],
    ids=["dependencies", "subtasks"],
)
def test_cycle_checks_refuse_repeatable_read(conn: Conn, table: str, columns: str) -> None:
    # Under REPEATABLE READ the cycle check's snapshot predates the advisory lock it waits for,
    # so both graphs refuse new links there; READ COMMITTED takes the same link.
    repo = repository(conn, user(conn))
    a, b = issue(conn, repo), issue(conn, repo)
    insert = f"INSERT INTO {table} (repository_id, {columns}) VALUES (%s, %s, %s)"
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with refused("FDC01", None) as info:
            conn.execute(insert, (repo, a, b))
    assert info.value.diag.table_name == table
    assert "REPEATABLE READ" in str(info.value)
    conn.execute(insert, (repo, a, b))
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE repository_id = %s", (repo,)).fetchone()
    assert row == (1,)


def test_a_repository_has_at_most_three_pins(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = "INSERT INTO pinned_issues (repository_id, issue_id, position) VALUES (%s, %s, %s)"
    for position in (1, 2, 3):
        conn.execute(insert, (repo, issue(conn, repo), position))
    with refused("23514", "pinned_issues_position_check"):
        conn.execute(insert, (repo, issue(conn, repo), 4))
    with refused("23505", "pinned_issues_repository_id_position_key"):
        conn.execute(insert, (repo, issue(conn, repo), 2))


def test_pins_reorder_in_one_statement(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    pins = [issue(conn, repo) for _ in range(3)]
    for position, pinned in enumerate(pins, start=1):
        conn.execute(
            "INSERT INTO pinned_issues (repository_id, issue_id, position) VALUES (%s, %s, %s)",
            (repo, pinned, position),
        )
    conn.execute(  # rotate: 1 -> 2 -> 3 -> 1
        "UPDATE pinned_issues SET position = position %% 3 + 1 WHERE repository_id = %s", (repo,)
    )
    rows = conn.execute(
        "SELECT issue_id FROM pinned_issues WHERE repository_id = %s ORDER BY position", (repo,)
    ).fetchall()
    assert [r[0] for r in rows] == [pins[2], pins[0], pins[1]]


def test_a_deleted_comment_is_an_empty_tombstone(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    note = comment(conn, repo, issue(conn, repo))
    with refused("23514", "comments_tombstone_check"):
        conn.execute("UPDATE comments SET deleted_at = now() WHERE id = %s", (note,))
    conn.execute("UPDATE comments SET deleted_at = now(), body = '' WHERE id = %s", (note,))
