"""db.repositories.collaborators: who holds which role on a repository."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.repositories import Collaborators, Repository
from forge_db.users import User

from .conftest import (
    A,
    ReadCase,
    ReadMatrix,
    World,
    WriteCase,
    WriteMatrix,
    classified,
)


def _listed(world: World) -> list[tuple[str, str]]:
    granted = [(world.admin, "admin"), (world.writer, "write"), (world.reader, "read")]
    return sorted(((u.username, role) for u, role in granted), key=lambda c: c[0].lower())


WRITES = {
    "set": WriteCase(
        "admin",
        lambda db, w, repo, actor: db.repositories.collaborators.set(
            repo, actor_id=actor, user_id=w.stranger.id, role="read"
        ),
    ),
    "delete": WriteCase(
        "admin",
        lambda db, w, repo, actor: db.repositories.collaborators.delete(
            repo, actor_id=actor, user_id=w.reader.id
        ),
    ),
}
READS = {
    "list": ReadCase(
        lambda db, repo, viewer: [
            (c.username, c.role) for c in db.repositories.collaborators.list(repo, viewer_id=viewer)
        ],
        expected=_listed,
        hidden=[],
        empty=[],
    ),
}


def test_every_collaborator_operation_is_in_the_access_matrix() -> None:
    assert classified(Collaborators) == set(WRITES) | set(READS)


class TestWrites(WriteMatrix):
    writes = WRITES


class TestReads(ReadMatrix):
    reads = READS


Owned = tuple[User, Repository]


@pytest.fixture
def owned(fdb: ForgeDB) -> Owned:
    """A private repository and its owner."""
    owner = make_user(fdb)
    return owner, make_repository(fdb, owner, private=True)


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_set_grants_a_role_the_grantee_then_holds(fdb: ForgeDB, owned: Owned, role: Any) -> None:
    owner, repo = owned
    member = make_user(fdb)
    granted = fdb.repositories.collaborators.set(
        repo.id, actor_id=owner.id, user_id=member.id, role=role
    )
    assert (granted.repository_id, granted.user_id, granted.username, granted.role) == (
        repo.id,
        member.id,
        member.username,
        role,
    )
    assert fdb.repositories.get_by_id(repo.id, viewer_id=member.id).viewer_role == role
    assert fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id) == [granted]


def test_set_again_changes_the_role_in_place(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    member = make_user(fdb)
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=member.id, role="admin")
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=member.id, role="read")
    listed = fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id)
    assert [(c.user_id, c.role) for c in listed] == [(member.id, "read")]
    assert fdb.repositories.get_by_id(repo.id, viewer_id=member.id).viewer_role == "read"


def test_the_owner_cannot_be_given_a_role(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    with pytest.raises(NotFound, match="owner"):
        fdb.repositories.collaborators.set(
            repo.id, actor_id=owner.id, user_id=owner.id, role="read"
        )
    assert fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id) == []
    assert fdb.repositories.get_by_id(repo.id, viewer_id=owner.id).viewer_role == "admin"


def test_an_inactive_user_cannot_be_given_a_role(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    member = make_user(fdb)
    fdb.users.deactivate(member.id)
    with pytest.raises(NotFound, match="not active"):
        fdb.repositories.collaborators.set(
            repo.id, actor_id=owner.id, user_id=member.id, role="write"
        )
    assert fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id) == []


def test_an_unknown_user_cannot_be_given_a_role(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    with pytest.raises(NotFound, match="not found"):
        fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=2**62, role="read")
    assert fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id) == []


@pytest.mark.parametrize("role", ["owner", "READ", "none", "", None, 1])
def test_roles_come_from_the_vocabulary(fdb: ForgeDB, owned: Owned, role: Any) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.collaborators.set(
            repo.id, actor_id=owner.id, user_id=make_user(fdb).id, role=role
        )
    assert info.value.field == "role"


@pytest.mark.parametrize("bad", [True, 0, -1, 2**63, "1", None])
def test_a_grantee_id_that_is_not_a_positive_bigint_is_invalid_input(
    fdb: ForgeDB, owned: Owned, bad: Any
) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=bad, role="read")
    assert info.value.field == "user_id"
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.collaborators.delete(repo.id, actor_id=owner.id, user_id=bad)
    assert info.value.field == "user_id"


def test_delete_takes_the_role_away_once(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    member = make_user(fdb)
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=member.id, role="read")
    assert (
        fdb.repositories.collaborators.delete(repo.id, actor_id=owner.id, user_id=member.id) is True
    )
    assert (
        fdb.repositories.collaborators.delete(repo.id, actor_id=owner.id, user_id=member.id)
        is False
    )
    assert fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id) == []


def test_a_removed_collaborator_no_longer_sees_a_private_repository(
    fdb: ForgeDB, owned: Owned
) -> None:
    owner, repo = owned
    member = make_user(fdb)
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=member.id, role="read")
    fdb.repositories.collaborators.delete(repo.id, actor_id=owner.id, user_id=member.id)
    with pytest.raises(NotFound):
        fdb.repositories.get_by_id(repo.id, viewer_id=member.id)
    assert fdb.repositories.collaborators.list(repo.id, viewer_id=member.id) == []


def test_a_removed_writer_can_no_longer_write_to_a_public_repository(fdb: ForgeDB) -> None:
    owner, member = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=member.id, role="write")
    fdb.repositories.bookmarks.set(repo.id, actor_id=member.id, name="main", targets=A)
    fdb.repositories.collaborators.delete(repo.id, actor_id=owner.id, user_id=member.id)
    with pytest.raises(PermissionDenied, match="write"):
        fdb.repositories.bookmarks.set(repo.id, actor_id=member.id, name="main", targets=A)
    assert fdb.repositories.get_by_id(repo.id, viewer_id=member.id).viewer_role == "read"


def test_list_orders_collaborators_by_username_case_insensitively(
    fdb: ForgeDB, owned: Owned
) -> None:
    owner, repo = owned
    carol, alice, bob = (make_user(fdb, prefix=p) for p in ("carol", "Alice", "bob"))
    for member in (carol, alice, bob):
        fdb.repositories.collaborators.set(
            repo.id, actor_id=owner.id, user_id=member.id, role="read"
        )
    listed = fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id)
    assert [c.user_id for c in listed] == [alice.id, bob.id, carol.id]


def test_anyone_may_list_the_collaborators_of_a_public_repository(fdb: ForgeDB) -> None:
    owner, member = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=member.id, role="write")
    for viewer in (None, make_user(fdb).id):
        listed = fdb.repositories.collaborators.list(repo.id, viewer_id=viewer)
        assert [(c.user_id, c.role) for c in listed] == [(member.id, "write")]


def test_collaborators_of_another_repository_are_not_listed(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    other = make_repository(fdb, owner)
    fdb.repositories.collaborators.set(
        other.id, actor_id=owner.id, user_id=make_user(fdb).id, role="read"
    )
    assert fdb.repositories.collaborators.list(repo.id, viewer_id=owner.id) == []
