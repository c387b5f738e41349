"""Append-only tables, state machines and content addressing of the domains still without operations. Each test names the SQLSTATE and constraint
the Python layer maps."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import psycopg
from schema_factories import digest, refused, repository, user

Conn = psycopg.Connection[Any]


def test_workflow_logs_are_append_only(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    row = conn.execute(
        "WITH run AS (INSERT INTO workflow_runs (repository_id, trigger) VALUES (%s, 'manual') RETURNING id)"
        " INSERT INTO workflow_logs (repository_id, run_id, line, message)"
        " SELECT %s, id, 1, 'hello' FROM run"
        " RETURNING id",
        (repo, repo),
    ).fetchone()
    assert row is not None
    with refused("FDC01", "workflow_logs_append_only"):
        conn.execute("UPDATE workflow_logs SET message = 'rewritten' WHERE id = %s", (row[0],))
    conn.execute("DELETE FROM workflow_logs WHERE id = %s", (row[0],))  # retention still works


def test_illegal_state_transitions_are_refused(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    row = conn.execute(
        "INSERT INTO landing_queue (repository_id, number, change_id, target_bookmark, title)"
        " VALUES (%s, get_next_issue_number(%s), %s, 'main', 'land it') RETURNING id",
        (repo, repo, "k" * 32),
    ).fetchone()
    assert row is not None
    with refused("FDC01", "landing_queue_state_transition"):
        conn.execute(
            "UPDATE landing_queue SET state = 'landed', landed_commit_id = %s, finished_at = now()"
            " WHERE id = %s",
            (secrets.token_hex(20), row[0]),
        )


def test_a_blob_is_keyed_by_the_sha256_of_its_content(conn: Conn) -> None:
    content = b"fn main() {}\n"
    conn.execute(
        "INSERT INTO blobs (hash, content) VALUES (%s, %s)",
        (hashlib.sha256(content).digest(), content),
    )
    with refused("23514", "blobs_hash_check"):
        conn.execute("INSERT INTO blobs (hash, content) VALUES (%s, %s)", (digest(), b"other"))


def test_jj_ids_have_their_format(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = (
        "INSERT INTO changes (repository_id, change_id, commit_id, authored_at, committed_at)"
        " VALUES (%s, %s, %s, now(), now())"
    )
    for column, value in [
        ("change_id", "k" * 31),
        ("change_id", "a" * 32),  # hex is not jj's change-id alphabet
        ("commit_id", "A" * 40),
        ("commit_id", "0" * 39),
    ]:
        ids = {"change_id": "z" * 32, "commit_id": "0" * 40, column: value}
        with refused("23514", f"changes_{column}_check"):
            conn.execute(insert, (repo, ids["change_id"], ids["commit_id"]))
    conn.execute(insert, (repo, "zyxwvutsrqponmlk" * 2, "0123456789abcdef" * 2 + "01234567"))
