"""Helpers of the collaboration tests: a repository with an issue, a comment and a user of every
standing; the notification rows as stored; snapshots that prove a refused write changed
nothing; and a page walker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import psycopg
import pytest
from support import make_repository, make_user

from forge_db import ForgeDB
from forge_db.issues import Comment, Issue
from forge_db.pagination import Page
from forge_db.repositories import Repository
from forge_db.users import User

T = TypeVar("T")

MISSING_ID = 2**62  # an id no test creates

# Tables the collaboration domain writes: a refused write leaves every one of them as it was.
_TABLES = ("reactions", "stars", "watches", "notifications", "messages", "mentions")


@dataclass(frozen=True)
class World:
    """Repository ``repo`` (private unless built public) with issue #1 by its owner and a
    comment on it by the reader; ``other`` is a public repository of someone else, with an
    issue #1 and a comment of its own, for calls that mix one repository's id with the other's
    children."""

    repo: Repository
    issue: Issue
    comment: Comment
    owner: User
    writer: User
    reader: User
    stranger: User
    other: Repository
    other_comment: Comment


def build_world(db: ForgeDB, *, private: bool) -> World:
    """A :class:`World` around a new repository, private or public."""
    owner, writer, reader, stranger, elsewhere = (make_user(db) for _ in range(5))
    repo = make_repository(db, owner, private=private)
    db.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=writer.id, role="write")
    db.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=reader.id, role="read")
    issue = db.issues.create(repo.id, actor_id=owner.id, title="the issue")
    comment = db.issues.comments.create(repo.id, 1, actor_id=reader.id, body="a comment")
    other = make_repository(db, elsewhere)
    db.issues.create(other.id, actor_id=elsewhere.id, title="elsewhere")
    other_comment = db.issues.comments.create(other.id, 1, actor_id=elsewhere.id, body="there")
    return World(repo, issue, comment, owner, writer, reader, stranger, other, other_comment)


@pytest.fixture
def private_world(fdb: ForgeDB) -> World:
    """A private repository with an issue, a comment and a user of every standing."""
    return build_world(fdb, private=True)


@pytest.fixture
def public_world(fdb: ForgeDB) -> World:
    """A public repository with an issue, a comment and a user of every standing."""
    return build_world(fdb, private=False)


Snapshot = Callable[[], dict[str, list[str]]]


@pytest.fixture
def snapshot(conn: psycopg.Connection[Any]) -> Snapshot:
    """Every row of the collaboration tables, as text, to compare before and after a write."""

    def take() -> dict[str, list[str]]:
        return {
            table: [
                row[0]
                for row in conn.execute(f"SELECT to_jsonb(t)::text FROM {table} t ORDER BY 1")
            ]
            for table in _TABLES
        }

    return take


class Stored(NamedTuple):
    """A notification row as the table holds it (not as a read filters it)."""

    user_id: int
    repository_id: int
    issue_id: int | None
    comment_id: int | None
    actor_id: int | None
    reason: str


StoredFor = Callable[[int], list[Stored]]


@pytest.fixture
def stored(conn: psycopg.Connection[Any]) -> StoredFor:
    """The notification rows stored for a user, oldest first, read with the raw connection."""

    def rows(user_id: int) -> list[Stored]:
        return [
            Stored(*row)
            for row in conn.execute(
                "SELECT user_id, repository_id, issue_id, comment_id, actor_id, reason "
                "FROM notifications WHERE user_id = %s ORDER BY id",
                (user_id,),
            )
        ]

    return rows


def walk(fetch: Callable[[str | None], Page[T]], limit: int) -> list[T]:
    """Every item of a paged list, following cursors; each page but the last is full."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        assert len(page.items) <= limit
        items += page.items
        if page.next_cursor is None:
            return items
        assert len(page.items) == limit, "a page before the last one is short"
        cursor = page.next_cursor
