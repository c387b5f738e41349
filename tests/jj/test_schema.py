"""The jj tables' own rules, straight in SQL: what no caller can get around."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from schema_factories import repository, user

Conn = psycopg.Connection[Any]

OP = "INSERT INTO jj_operations (repository_id, operation_id, parent_operation_ids, view_id, started_at, ended_at) VALUES (%s, %s, %s, %s, now(), now())"


def _sqlstate(conn: Conn, sql: str, params: Any = ()) -> str | None:
    try:
        conn.execute(sql, params)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


def _heads(conn: Conn, repository_id: int) -> set[str]:
    rows = conn.execute(
        "SELECT operation_id FROM jj_operation_heads WHERE repository_id = %s", (repository_id,)
    ).fetchall()
    return {r[0] for r in rows}


def test_heads_follow_inserts_of_any_writer(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    a, b, c = "a" * 128, "b" * 128, "c" * 128
    conn.execute(OP, (repo, a, [], "0" * 128))
    conn.execute(OP, (repo, b, [a], "0" * 128))
    assert _heads(conn, repo) == {b}
    conn.execute(OP, (repo, c, [a], "0" * 128))
    assert _heads(conn, repo) == {b, c}
    assert _sqlstate(conn, OP, (repo, "d" * 128, ["e" * 128], "0" * 128)) == "FDI01"
    assert _sqlstate(conn, "UPDATE jj_operation_heads SET operation_id = operation_id") == "FDC01"


def test_id_checks_refuse_what_the_regexes_of_0001_refused(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    for bad in ("A" * 128, "a" * 127, "a" * 129, "g" + "a" * 127, ""):
        assert _sqlstate(conn, OP, (repo, bad, [], "0" * 128)) == "23514", bad
    for parents in (["a" * 127], ["a" * 128, None], ["a" * 127 + "," + "a" * 128]):
        assert _sqlstate(conn, OP, (repo, "f" * 128, parents, "0" * 128)) == "23514", parents
    change = (
        "INSERT INTO changes (repository_id, change_id, commit_id, parent_commit_ids, "
        "authored_at, committed_at) VALUES (%s, %s, %s, %s, now(), now())"
    )
    for change_id, commit_id, parents in (
        ("a" * 32, "0" * 40, []),
        ("k" * 31, "0" * 40, []),
        ("k" * 32, "0" * 39, []),
        ("k" * 32, "0" * 40, ["0" * 41]),
    ):
        assert _sqlstate(conn, change, (repo, change_id, commit_id, parents)) == "23514"
    assert _sqlstate(conn, change, (repo, "k" * 32, "0" * 40, ["1" * 40])) is None


def test_a_commit_named_as_a_predecessor_becomes_hidden(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = (
        "INSERT INTO changes (repository_id, change_id, commit_id, predecessor_commit_ids, "
        "authored_at, committed_at) VALUES (%s, %s, %s, %s, now(), now())"
    )
    conn.execute(insert, (repo, "k" * 32, "1" * 40, []))
    conn.execute(insert, (repo, "k" * 32, "2" * 40, ["1" * 40]))
    rows = conn.execute("SELECT commit_id, hidden FROM changes ORDER BY commit_id").fetchall()
    assert rows == [("1" * 40, True), ("2" * 40, False)]


def test_the_workspace_audit_trail_is_written_by_the_database_and_append_only(
    conn: Conn,
) -> None:
    owner = user(conn)
    repo = repository(conn, owner)
    row = conn.execute(
        "INSERT INTO jj_workspaces (repository_id, user_id, name) VALUES (%s, %s, 'w') "
        "RETURNING id",
        (repo, owner),
    ).fetchone()
    assert row is not None
    conn.execute("UPDATE jj_workspaces SET state = 'active' WHERE id = %s", (row[0],))
    conn.execute("UPDATE jj_workspaces SET host = 'h' WHERE id = %s", (row[0],))  # no move
    trail = conn.execute(
        "SELECT from_state, to_state FROM jj_workspace_transitions ORDER BY id"
    ).fetchall()
    assert trail == [(None, "provisioning"), ("provisioning", "active")]
    assert _sqlstate(conn, "UPDATE jj_workspace_transitions SET reason = 'x'") == "FDC01"


@pytest.mark.parametrize(
    ("a", "b", "length"),
    [("abc", "abd", 2), ("abc", "abc", 3), ("abc", "ab", 2), ("x", "y", 0), ("abc", None, 0)],
)
def test_common_prefix_length(conn: Conn, a: str, b: str | None, length: int) -> None:
    row = conn.execute("SELECT jj_common_prefix_length(%s, %s)", (a, b)).fetchone()
    assert row == (length,)
