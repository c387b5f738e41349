"""Helpers of the issues domain's tests: a cast of people on two repositories, and checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import psycopg
import pytest
from support import World as World
from support import make_world

from forge_db import ForgeDB
from forge_db.issues import Issue
from forge_db.pagination import Page
from forge_db.repositories import Repository
from forge_db.users import User

T = TypeVar("T")


@pytest.fixture
def world(fdb: ForgeDB) -> World:
    return make_world(fdb)


def open_issue(
    fdb: ForgeDB, repository: Repository, author: User, title: str = "an issue", **options: Any
) -> Issue:
    """Open an issue in ``repository`` as ``author``."""
    return fdb.issues.create(repository.id, actor_id=author.id, title=title, **options)


class _Numbered(Protocol):
    @property
    def number(self) -> int: ...


def numbers(items: Iterable[_Numbered]) -> list[int]:
    """The issue numbers of ``items``, in their order."""
    return [item.number for item in items]


def every_page(fetch: Callable[[str | None], Page[T]], *, most: int = 1000) -> list[T]:
    """Every item of a paged list, page after page, following ``next_cursor`` to the end."""
    items: list[T] = []
    cursor: str | None = None
    for _ in range(most):
        page = fetch(cursor)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise AssertionError(f"more than {most} pages: the cursor does not advance")


# Every table an operation of the issues domain writes, with a column list that orders its rows.
_ISSUE_TABLES = {
    "issues": "id",
    "issue_counters": "repository_id",
    "comments": "id",
    "labels": "id",
    "issue_labels": "repository_id, issue_id, label_id",
    "milestones": "id",
    "issue_assignees": "repository_id, issue_id, user_id",
    "issue_dependencies": "repository_id, blocking_issue_id, blocked_issue_id",
    "subtasks": "repository_id, parent_issue_id, child_issue_id",
    "pinned_issues": "repository_id, issue_id",
    "mentions": "id",
    "notifications": "id",
}


def issue_tables(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the issues domain's tables (and of the mentions and notifications its
    writes make), in a stable order."""
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        for table, order in _ISSUE_TABLES.items()
    }


@contextmanager
def unchanged(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Assert that the block leaves every row of the issues domain as it found it."""
    before = issue_tables(conn)
    yield
    after = issue_tables(conn)
    assert after == before, {t: (before[t], after[t]) for t in before if before[t] != after[t]}
