"""Helpers of the landing domain's tests: a cast on two repositories, change and commit ids."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB
from forge_db.inputs import Role
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


@dataclass(frozen=True)
class World:
    """An owner, a writer, a reader and a stranger, on a public and a private repository."""

    owner: User
    writer: User
    reader: User
    stranger: User
    repo: Repository
    private: Repository


@pytest.fixture
def world(fdb: ForgeDB) -> World:
    owner = make_user(fdb, "owner")
    writer, reader, stranger = make_user(fdb, "writer"), make_user(fdb, "reader"), make_user(fdb)
    repo = make_repository(fdb, owner)
    private = make_repository(fdb, owner, private=True)
    roles: tuple[tuple[User, Role], ...] = ((writer, "write"), (reader, "read"))
    for repository in (repo, private):
        for person, role in roles:
            fdb.repositories.collaborators.set(
                repository.id, actor_id=owner.id, user_id=person.id, role=role
            )
    return World(owner, writer, reader, stranger, repo, private)


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
