"""Rows for schema tests, inserted with plain SQL (the schema is under test, not the DAOs)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest


def user(conn: psycopg.Connection[Any], username: str | None = None, *, active: bool = True) -> int:
    name = f"u{secrets.token_hex(6)}" if username is None else username
    row = conn.execute(
        "INSERT INTO users (username, wallet_address, active) VALUES (%s, %s, %s) RETURNING id",
        (name, "0x" + secrets.token_hex(20), active),
    ).fetchone()
    assert row is not None
    return int(row[0])


def repository(
    conn: psycopg.Connection[Any], owner_id: int, name: str | None = None, *, private: bool = False
) -> int:
    row = conn.execute(
        "INSERT INTO repositories (owner_id, name, private) VALUES (%s, %s, %s) RETURNING id",
        (owner_id, f"r{secrets.token_hex(6)}" if name is None else name, private),
    ).fetchone()
    assert row is not None
    return int(row[0])


def issue(
    conn: psycopg.Connection[Any], repository_id: int, *, author_id: int | None = None
) -> int:
    row = conn.execute(
        """
        INSERT INTO issues (repository_id, number, title, author_id)
        VALUES (%(r)s, get_next_issue_number(%(r)s), 'an issue', %(a)s)
        RETURNING id
        """,
        {"r": repository_id, "a": author_id},
    ).fetchone()
    assert row is not None
    return int(row[0])


def comment(
    conn: psycopg.Connection[Any], repository_id: int, issue_id: int, author_id: int | None = None
) -> int:
    row = conn.execute(
        "INSERT INTO comments (repository_id, issue_id, author_id, body) VALUES (%s, %s, %s, 'hi')"
        " RETURNING id",
        (repository_id, issue_id, author_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


def label(conn: psycopg.Connection[Any], repository_id: int, name: str = "bug") -> int:
    row = conn.execute(
        "INSERT INTO labels (repository_id, name) VALUES (%s, %s) RETURNING id",
        (repository_id, name),
    ).fetchone()
    assert row is not None
    return int(row[0])


def digest() -> bytes:
    return hashlib.sha256(secrets.token_bytes(32)).digest()


@contextmanager
def refused(sqlstate: str, constraint: str | None) -> Iterator[pytest.ExceptionInfo[psycopg.Error]]:
    """Expect the block to fail with this SQLSTATE naming this constraint."""
    with pytest.raises(psycopg.Error) as info:
        yield info
    assert (info.value.sqlstate, info.value.diag.constraint_name) == (sqlstate, constraint), str(
        info.value
    )
