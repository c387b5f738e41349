"""db.repositories.branches: the git branches of a repository's git backend."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput
from forge_db.repositories import Branches, Repository
from forge_db.users import User

from .conftest import A, B, ReadCase, ReadMatrix, WriteCase, WriteMatrix, classified

WRITES = {
    "set": WriteCase(
        "write",
        lambda db, w, repo, actor: db.repositories.branches.set(
            repo, actor_id=actor, name="main", commit_id=B
        ),
    ),
    "delete": WriteCase(
        "write",
        lambda db, w, repo, actor: db.repositories.branches.delete(
            repo, actor_id=actor, name="main"
        ),
    ),
}
READS = {
    "list": ReadCase(
        lambda db, repo, viewer: [
            (b.name, b.commit_id) for b in db.repositories.branches.list(repo, viewer_id=viewer)
        ],
        expected=lambda w: [("main", A)],
        hidden=[],
        empty=[],
    ),
}


def test_every_branch_operation_is_in_the_access_matrix() -> None:
    assert classified(Branches) == set(WRITES) | set(READS)


class TestWrites(WriteMatrix):
    writes = WRITES


class TestReads(ReadMatrix):
    reads = READS


Owned = tuple[User, Repository]


@pytest.fixture
def owned(fdb: ForgeDB) -> Owned:
    """A public repository and its owner."""
    owner = make_user(fdb)
    return owner, make_repository(fdb, owner)


def test_set_creates_a_branch_on_a_commit(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    branch = fdb.repositories.branches.set(repo.id, actor_id=owner.id, name="main", commit_id=A)
    assert (branch.repository_id, branch.name, branch.commit_id) == (repo.id, "main", A)
    assert fdb.repositories.branches.list(repo.id) == [branch]


def test_set_moves_an_existing_branch(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    first = fdb.repositories.branches.set(repo.id, actor_id=owner.id, name="main", commit_id=A)
    moved = fdb.repositories.branches.set(repo.id, actor_id=owner.id, name="main", commit_id=B)
    assert (moved.id, moved.commit_id) == (first.id, B)
    assert [(b.name, b.commit_id) for b in fdb.repositories.branches.list(repo.id)] == [("main", B)]


@pytest.mark.parametrize("commit_id", ["", "abc", "A" * 40, "g" * 40, "a" * 41, [A], None])
def test_a_commit_id_is_forty_lowercase_hex_digits(
    fdb: ForgeDB, owned: Owned, commit_id: Any
) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.branches.set(repo.id, actor_id=owner.id, name="main", commit_id=commit_id)
    assert info.value.field == "commit_id"
    assert fdb.repositories.branches.list(repo.id) == []


@pytest.mark.parametrize("name", ["", "@", "a..b", "a b", ".hidden", "a.lock", "a//b", "x" * 256])
def test_branch_names_follow_the_git_ref_rules(fdb: ForgeDB, owned: Owned, name: str) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.branches.set(repo.id, actor_id=owner.id, name=name, commit_id=A)
    assert info.value.field == "name"


def test_delete_removes_the_branch_once(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.branches.set(repo.id, actor_id=owner.id, name="main", commit_id=A)
    fdb.repositories.branches.set(repo.id, actor_id=owner.id, name="dev", commit_id=B)
    assert fdb.repositories.branches.delete(repo.id, actor_id=owner.id, name="main") is True
    assert fdb.repositories.branches.delete(repo.id, actor_id=owner.id, name="main") is False
    assert [b.name for b in fdb.repositories.branches.list(repo.id)] == ["dev"]


def test_list_orders_branches_by_name_within_their_repository(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    other = make_repository(fdb, owner)
    for name in ["main", "dev", "feature/x"]:
        fdb.repositories.branches.set(repo.id, actor_id=owner.id, name=name, commit_id=A)
    fdb.repositories.branches.set(other.id, actor_id=owner.id, name="elsewhere", commit_id=A)
    assert [b.name for b in fdb.repositories.branches.list(repo.id)] == ["dev", "feature/x", "main"]


def test_branches_and_bookmarks_are_separate(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.branches.set(repo.id, actor_id=owner.id, name="main", commit_id=A)
    assert fdb.repositories.bookmarks.list(repo.id) == []
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=B)
    assert fdb.repositories.branches.list(repo.id)[0].commit_id == A
