"""db.repositories: names, access control, collaborators, bookmarks and rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import AlreadyExists, Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.query import operation
from forge_db.repositories import Repositories

A = "a" * 40
B = "b" * 40
C = "c" * 40


def test_create_and_get_by_owner_and_name(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = fdb.repositories.create(owner_id=owner.id, name="Forge.Core", description="d")
    assert repo.full_name == f"{owner.username}/Forge.Core"
    assert repo.viewer_role == "admin"
    found = fdb.repositories.get(owner.username.upper(), "forge.core", viewer_id=None)
    assert found.id == repo.id
    assert found.viewer_role == "read"


def test_names_are_unique_per_owner_case_insensitively(fdb: ForgeDB) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    fdb.repositories.create(owner_id=owner.id, name="same")
    with pytest.raises(AlreadyExists, match="already has a repository"):
        fdb.repositories.create(owner_id=owner.id, name="SAME")
    assert fdb.repositories.create(owner_id=other.id, name="same").name == "same"


@pytest.mark.parametrize("name", ["", ".", "..", "x.git", "X.GIT", "sp ace", "a/b", "é", "a" * 101])
def test_bad_repository_names_are_invalid_input(fdb: ForgeDB, name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.create(owner_id=make_user(fdb).id, name=name)
    assert info.value.field == "name"


def test_rename_keeps_the_old_name_resolving(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = fdb.repositories.create(owner_id=owner.id, name="old-name")
    renamed = fdb.repositories.rename(repo.id, actor_id=owner.id, new_name="new-name")
    assert renamed.name == "new-name"
    assert fdb.repositories.get(owner.username, "old-name").id == repo.id
    assert fdb.repositories.get(owner.username, "new-name").name == "new-name"
    fresh = fdb.repositories.create(owner_id=owner.id, name="old-name")
    assert fdb.repositories.get(owner.username, "old-name").id == fresh.id


def test_update_settings_and_archive(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    updated = fdb.repositories.update(repo.id, actor_id=owner.id, description="new", private=True)
    assert (updated.description, updated.private) == ("new", True)
    archived = fdb.repositories.update(repo.id, actor_id=owner.id, archived=True)
    assert archived.archived
    with pytest.raises(Conflict, match="archived"):
        fdb.repositories.update(repo.id, actor_id=owner.id, description="nope")
    with pytest.raises(Conflict, match="archived"):
        fdb.repositories.set_bookmark(repo.id, actor_id=owner.id, name="main", targets=A)
    assert fdb.repositories.update(repo.id, actor_id=owner.id, archived=False).archived is False
    assert fdb.repositories.set_bookmark(
        repo.id, actor_id=owner.id, name="main", targets=A
    ).targets == [A]


def test_delete_removes_the_repository(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    assert fdb.repositories.delete(repo.id, actor_id=owner.id) == repo.id
    with pytest.raises(NotFound):
        fdb.repositories.get_by_id(repo.id, viewer_id=owner.id)


def test_list_for_owner_pages_by_name_with_a_cursor(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    for name in ["delta", "Alpha", "charlie", "bravo", "echo"]:
        fdb.repositories.create(owner_id=owner.id, name=name)
    first = fdb.repositories.list_for_owner(owner.username, limit=2)
    assert [r.name for r in first.items] == ["Alpha", "bravo"]
    second = fdb.repositories.list_for_owner(owner.username, limit=2, cursor=first.next_cursor)
    assert [r.name for r in second.items] == ["charlie", "delta"]
    third = fdb.repositories.list_for_owner(owner.username, limit=2, cursor=second.next_cursor)
    assert [r.name for r in third.items] == ["echo"]
    assert third.next_cursor is None


def test_a_cursor_of_another_list_is_refused(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    for owner in (alice, bob):
        for _ in range(3):
            make_repository(fdb, owner)
    cursor = fdb.repositories.list_for_owner(alice.username, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput, match="cursor"):
        fdb.repositories.list_for_owner(bob.username, limit=1, cursor=cursor)
    with pytest.raises(InvalidInput, match="cursor"):
        fdb.repositories.list_for_owner(alice.username, cursor="garbage!")


def test_page_size_is_capped(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        fdb.repositories.list_public(limit=1000)


def test_list_for_viewer_holds_owned_and_collaborated(fdb: ForgeDB) -> None:
    owner, member = make_user(fdb), make_user(fdb)
    own = make_repository(fdb, member, private=True)
    shared = make_repository(fdb, owner, private=True)
    make_repository(fdb, owner, private=True)
    fdb.repositories.set_collaborator(shared.id, actor_id=owner.id, user_id=member.id, role="read")
    page = fdb.repositories.list_for_viewer(member.id)
    assert {r.id for r in page.items} == {own.id, shared.id}


def test_collaborators_roles_and_owner_rules(fdb: ForgeDB) -> None:
    owner, writer, stranger = make_user(fdb), make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner, private=True)
    granted = fdb.repositories.set_collaborator(
        repo.id, actor_id=owner.id, user_id=writer.id, role="write"
    )
    assert granted.role == "write"
    with pytest.raises(PermissionDenied):
        fdb.repositories.set_collaborator(
            repo.id, actor_id=writer.id, user_id=stranger.id, role="read"
        )
    with pytest.raises(NotFound):
        fdb.repositories.set_collaborator(
            repo.id, actor_id=stranger.id, user_id=stranger.id, role="admin"
        )
    with pytest.raises(NotFound, match="owner"):
        fdb.repositories.set_collaborator(repo.id, actor_id=owner.id, user_id=owner.id, role="read")
    assert [
        c.username for c in fdb.repositories.list_collaborators(repo.id, viewer_id=writer.id)
    ] == [writer.username]
    assert (
        fdb.repositories.remove_collaborator(repo.id, actor_id=owner.id, user_id=writer.id) is True
    )
    with pytest.raises(NotFound):
        fdb.repositories.get_by_id(repo.id, viewer_id=writer.id)


def test_bookmarks_can_be_conflicted_and_moved_by_compare_and_swap(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    created = fdb.repositories.set_bookmark(
        repo.id, actor_id=owner.id, name="main", targets=A, expected_targets=[]
    )
    assert created.conflicted is False
    with pytest.raises(Conflict):
        fdb.repositories.set_bookmark(
            repo.id, actor_id=owner.id, name="main", targets=B, expected_targets=[]
        )
    both = fdb.repositories.set_bookmark(
        repo.id, actor_id=owner.id, name="main", targets=[A, B], expected_targets=[A]
    )
    assert both.conflicted is True
    with pytest.raises(Conflict):
        fdb.repositories.set_bookmark(
            repo.id, actor_id=owner.id, name="main", targets=C, expected_targets=[A]
        )
    resolved = fdb.repositories.set_bookmark(
        repo.id, actor_id=owner.id, name="main", targets=C, expected_targets=[B, A]
    )
    assert resolved.targets == [C]
    assert [b.name for b in fdb.repositories.list_bookmarks(repo.id)] == ["main"]
    assert fdb.repositories.delete_bookmark(repo.id, actor_id=owner.id, name="main") is True
    assert fdb.repositories.delete_bookmark(repo.id, actor_id=owner.id, name="main") is False


@pytest.mark.parametrize("targets", [[], ["abc"], ["A" * 40], [A] * 0])
def test_bad_bookmark_targets_are_invalid_input(fdb: ForgeDB, targets: list[str]) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    with pytest.raises(InvalidInput):
        fdb.repositories.set_bookmark(repo.id, actor_id=owner.id, name="main", targets=targets)


def test_renamed_bookmarks_resolve_old_names(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.set_bookmark(repo.id, actor_id=owner.id, name="master", targets=A)
    fdb.repositories.rename_bookmark(repo.id, actor_id=owner.id, old_name="master", new_name="main")
    fdb.repositories.rename_bookmark(repo.id, actor_id=owner.id, old_name="main", new_name="trunk")
    assert fdb.repositories.get_bookmark(repo.id, "master").name == "trunk"
    assert fdb.repositories.resolve_ref_name(repo.id, "master") == "trunk"
    assert fdb.repositories.resolve_ref_name(repo.id, "never-renamed") == "never-renamed"


def test_protection_rules_apply_by_glob(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.protect(repo.id, actor_id=owner.id, pattern="main", required_approvals=2)
    fdb.repositories.protect(
        repo.id, actor_id=owner.id, pattern="release/*", required_status_contexts=["ci"]
    )
    fdb.repositories.protect(repo.id, actor_id=owner.id, pattern="**", land_min_role="write")
    patterns = lambda name: [r.pattern for r in fdb.repositories.rules_for_bookmark(repo.id, name)]  # noqa: E731
    assert patterns("main") == ["**", "main"]
    assert patterns("release/1.0") == ["**", "release/*"]
    assert patterns("release/1.0/hotfix") == ["**"]
    replaced = fdb.repositories.protect(
        repo.id, actor_id=owner.id, pattern="main", required_approvals=1
    )
    assert replaced.required_approvals == 1
    assert fdb.repositories.unprotect(repo.id, actor_id=owner.id, pattern="main") is True
    assert len(fdb.repositories.list_protection_rules(repo.id)) == 2


# --- the access matrix -----------------------------------------------------------------------

# Every read operation of the namespace, called for a viewer on a private repository. The test
# below fails when an operation is added without an entry here or in WRITES.
READS: dict[str, Callable[[ForgeDB, Any, int | None], Any]] = {
    "get": lambda db, repo, viewer: db.repositories.get(repo.owner, repo.name, viewer_id=viewer),
    "get_by_id": lambda db, repo, viewer: db.repositories.get_by_id(repo.id, viewer_id=viewer),
    "list_for_owner": lambda db, repo, viewer: (
        db.repositories.list_for_owner(repo.owner, viewer_id=viewer).items
    ),
    "list_for_viewer": lambda db, repo, viewer: (
        db.repositories.list_for_viewer(viewer).items if viewer else []
    ),
    "list_public": lambda db, repo, viewer: db.repositories.list_public(viewer_id=viewer).items,
    "list_collaborators": lambda db, repo, viewer: db.repositories.list_collaborators(
        repo.id, viewer_id=viewer
    ),
    "get_bookmark": lambda db, repo, viewer: db.repositories.get_bookmark(
        repo.id, "main", viewer_id=viewer
    ),
    "list_bookmarks": lambda db, repo, viewer: db.repositories.list_bookmarks(
        repo.id, viewer_id=viewer
    ),
    "list_branches": lambda db, repo, viewer: db.repositories.list_branches(
        repo.id, viewer_id=viewer
    ),
    "resolve_ref_name": lambda db, repo, viewer: db.repositories.resolve_ref_name(
        repo.id, "old", viewer_id=viewer
    ),
    "list_protection_rules": lambda db, repo, viewer: db.repositories.list_protection_rules(
        repo.id, viewer_id=viewer
    ),
    "rules_for_bookmark": lambda db, repo, viewer: db.repositories.rules_for_bookmark(
        repo.id, "main", viewer_id=viewer
    ),
}
WRITES = {
    "create",
    "update",
    "rename",
    "delete",
    "set_collaborator",
    "remove_collaborator",
    "set_bookmark",
    "delete_bookmark",
    "rename_bookmark",
    "set_branch",
    "delete_branch",
    "protect",
    "unprotect",
}


def test_every_operation_is_classified_as_read_or_write() -> None:
    operations = {
        name for name, value in vars(Repositories).items() if isinstance(value, operation)
    }
    assert operations == set(READS) | WRITES


def _private_world(db: ForgeDB) -> tuple[Any, Any, Any, Any]:
    owner, reader, stranger = make_user(db), make_user(db), make_user(db)
    repo = make_repository(db, owner, private=True)
    db.repositories.set_collaborator(repo.id, actor_id=owner.id, user_id=reader.id, role="read")
    db.repositories.set_bookmark(repo.id, actor_id=owner.id, name="main", targets=A)
    db.repositories.set_branch(repo.id, actor_id=owner.id, name="main", commit_id=A)
    db.repositories.protect(repo.id, actor_id=owner.id, pattern="main", required_approvals=1)
    return owner, reader, stranger, repo


def _shows(result: Any, repo: Any) -> bool:
    """Whether a read result reveals anything of the private repository."""
    if isinstance(result, list):
        # Lists of repositories may hold others; any item of a per-repository list is a leak.
        return any(item.id == repo.id if hasattr(item, "owner") else True for item in result)
    return True


@pytest.mark.parametrize("read", sorted(READS))
def test_private_repository_is_invisible_to_strangers_and_anonymous(
    fdb: ForgeDB, read: str
) -> None:
    _, _, stranger, repo = _private_world(fdb)
    for viewer in (stranger.id, None):
        try:
            result = READS[read](fdb, repo, viewer)
        except NotFound:
            continue
        assert not _shows(result, repo), f"{read} shows the private repository to {viewer}"


@pytest.mark.parametrize("read", sorted(set(READS) - {"list_public"}))
def test_read_collaborator_and_owner_see_the_private_repository(fdb: ForgeDB, read: str) -> None:
    """(The public catalogue lists no private repository, whoever looks.)"""
    owner, reader, _, repo = _private_world(fdb)
    for viewer in (reader.id, owner.id):
        if read == "list_for_owner" or read == "list_for_viewer":
            assert repo.id in {r.id for r in READS[read](fdb, repo, viewer)}
        elif read == "list_collaborators":
            assert [c.user_id for c in READS[read](fdb, repo, viewer)] == [reader.id]
        else:
            assert READS[read](fdb, repo, viewer)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("read", False), ("write", True)],
)
def test_bookmark_writes_need_write_role(fdb: ForgeDB, role: str, allowed: bool) -> None:
    owner, member = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.set_collaborator(repo.id, actor_id=owner.id, user_id=member.id, role=role)  # type: ignore[arg-type]
    if allowed:
        assert (
            fdb.repositories.set_bookmark(repo.id, actor_id=member.id, name="x", targets=A).name
            == "x"
        )
    else:
        with pytest.raises(PermissionDenied, match="write"):
            fdb.repositories.set_bookmark(repo.id, actor_id=member.id, name="x", targets=A)


def test_writes_to_a_private_repository_by_a_stranger_are_not_found(fdb: ForgeDB) -> None:
    owner, stranger = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner, private=True)
    with pytest.raises(NotFound):
        fdb.repositories.set_bookmark(repo.id, actor_id=stranger.id, name="x", targets=A)
    with pytest.raises(NotFound):
        fdb.repositories.delete(repo.id, actor_id=stranger.id)


def test_public_repository_writes_by_a_stranger_are_denied(fdb: ForgeDB) -> None:
    owner, stranger = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    with pytest.raises(PermissionDenied):
        fdb.repositories.rename(repo.id, actor_id=stranger.id, new_name="mine")
