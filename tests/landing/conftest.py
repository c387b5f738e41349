"""Helpers of the landing domain's tests: a cast on two repositories, change and commit ids."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from support import World as World
from support import make_world

from forge_db import ForgeDB
from forge_db.landing import LandingRequest
from forge_db.repositories import Repository
from forge_db.users import User

_serial = itertools.count(1)


def change_id(n: int | None = None) -> str:
    """A distinct jj change id (32 letters of k-z) for each ``n`` (a fresh one when omitted)."""
    value = next(_serial) if n is None else n
    letters = []
    for _ in range(32):
        value, digit = divmod(value, 16)
        letters.append("klmnopqrstuvwxyz"[digit])
    return "".join(reversed(letters))


def commit_id(n: int | None = None) -> str:
    """A distinct commit id (40 hex digits) for each ``n`` (a fresh one when omitted)."""
    return format(next(_serial) if n is None else n, "040x")


@pytest.fixture
def world(fdb: ForgeDB) -> World:
    return make_world(fdb)


def submit(
    db: ForgeDB,
    repository: Repository,
    author: User,
    *,
    bookmark: str = "main",
    change: str | None = None,
    **options: Any,
) -> LandingRequest:
    """Submit a fresh change (or ``change``) to land on ``bookmark``."""
    options.setdefault("commit_id", commit_id())
    return db.landing.submit(
        repository.id,
        actor_id=author.id,
        change_id=change or change_id(),
        bookmark=bookmark,
        title=options.pop("title", "a change"),
        **options,
    )
