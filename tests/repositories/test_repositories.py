"""db.repositories: repositories themselves: create, find, list, change, rename, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from support import make_repository, make_user

from forge_db import AlreadyExists, Conflict, ForgeDB, InvalidInput, NotFound
from forge_db.query import children
from forge_db.repositories import (
    Bookmarks,
    Branches,
    Collaborators,
    Protection,
    Repositories,
    Repository,
    Statuses,
)
from forge_db.users import User

from .conftest import A, World, WriteCase, WriteMatrix, classified, walk

WRITES = {
    "update": WriteCase(
        "admin",
        lambda db, w, repo, actor: db.repositories.update(
            repo, actor_id=actor, description="changed"
        ),
    ),
    "rename": WriteCase(
        "admin",
        lambda db, w, repo, actor: db.repositories.rename(repo, actor_id=actor, new_name="renamed"),
    ),
    "delete": WriteCase(
        "admin",
        lambda db, w, repo, actor: db.repositories.delete(repo, actor_id=actor),
        archived_ok=True,
    ),
}
# Reads of repositories themselves, each tried by every standing in the tests below.
READS = {"get", "get_by_id", "list_for_owner", "list_for_viewer", "list_public"}


def test_every_repository_operation_is_tried() -> None:
    """``create`` takes no repository; its tests are the first ones below."""
    assert classified(Repositories) == set(WRITES) | READS | {"create"}


def test_every_child_namespace_has_its_own_test_module() -> None:
    """test_collaborators, test_bookmarks, test_branches, test_protection, test_statuses: each
    checks that its namespace's every operation is in its access matrix."""
    assert children(Repositories) == {
        "collaborators": Collaborators,
        "bookmarks": Bookmarks,
        "branches": Branches,
        "protection": Protection,
        "statuses": Statuses,
    }


class TestWrites(WriteMatrix):
    writes = WRITES


# --- create ----------------------------------------------------------------------------------


def test_create_returns_the_repository_as_its_owner_sees_it(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = fdb.repositories.create(owner_id=owner.id, name="Forge.Core")
    assert (repo.owner_id, repo.owner, repo.name) == (owner.id, owner.username, "Forge.Core")
    assert repo.full_name == f"{owner.username}/Forge.Core"
    assert (repo.private, repo.archived, repo.description, repo.default_bookmark) == (
        False,
        False,
        "",
        "main",
    )
    assert repo.viewer_role == "admin"
    assert fdb.repositories.get_by_id(repo.id, viewer_id=owner.id) == repo


def test_create_stores_the_settings_given(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = fdb.repositories.create(
        owner_id=owner.id, name="r", private=True, description="d", default_bookmark="trunk"
    )
    assert (repo.private, repo.description, repo.default_bookmark) == (True, "d", "trunk")
    assert fdb.repositories.get_by_id(repo.id, viewer_id=owner.id) == repo


def test_names_are_unique_per_owner_case_insensitively(fdb: ForgeDB) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    fdb.repositories.create(owner_id=owner.id, name="same")
    with pytest.raises(AlreadyExists, match="already has a repository"):
        fdb.repositories.create(owner_id=owner.id, name="SAME")
    assert fdb.repositories.create(owner_id=other.id, name="same").name == "same"
    assert [r.name for r in fdb.repositories.list_for_owner(owner.username).items] == ["same"]


@pytest.mark.parametrize(
    "name", ["", ".", "..", "x.git", "X.GIT", "sp ace", "a/b", "é", "a" * 101, None, 1]
)
def test_bad_repository_names_are_invalid_input(fdb: ForgeDB, name: Any) -> None:
    owner = make_user(fdb)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.create(owner_id=owner.id, name=name)
    assert info.value.field == "name"
    assert fdb.repositories.list_for_owner(owner.username).items == []


@pytest.mark.parametrize("name", ["a", ".github", "x.git.bak", "A_b-c.d", "r" * 100])
def test_well_formed_repository_names_are_accepted(fdb: ForgeDB, name: str) -> None:
    owner = make_user(fdb)
    assert fdb.repositories.create(owner_id=owner.id, name=name).name == name


@pytest.mark.parametrize(
    ("field", "value"),
    [("description", "d" * 2001), ("description", None), ("default_bookmark", "a..b")],
)
def test_bad_settings_are_invalid_input_naming_the_field(
    fdb: ForgeDB, field: str, value: Any
) -> None:
    owner = make_user(fdb)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.create(owner_id=owner.id, name="r", **{field: value})
    assert info.value.field == field
    assert fdb.repositories.list_for_owner(owner.username).items == []


@pytest.mark.parametrize("private", ["no", "yes", "false", 0, 1, None])
def test_private_must_be_a_real_bool_at_creation(fdb: ForgeDB, private: Any) -> None:
    """``"no"`` does not become ``True`` (issue 15, silent coercions)."""
    owner = make_user(fdb)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.create(owner_id=owner.id, name="r", private=private)
    assert info.value.field == "private"
    assert fdb.repositories.list_for_owner(owner.username, viewer_id=owner.id).items == []


@pytest.mark.parametrize("bad", [True, 0, -1, 2**63, "1", 1.0, None])
def test_an_owner_id_that_is_not_a_positive_bigint_is_invalid_input(fdb: ForgeDB, bad: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.create(owner_id=bad, name="r")
    assert info.value.field == "owner_id"


def test_an_inactive_user_cannot_create_a_repository(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    fdb.users.deactivate(owner.id)
    with pytest.raises(NotFound, match="not active"):
        fdb.repositories.create(owner_id=owner.id, name="r")
    assert fdb.repositories.list_public().items == []


def test_an_unknown_user_cannot_create_a_repository(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound, match="not found"):
        fdb.repositories.create(owner_id=2**62, name="r")
    assert fdb.repositories.list_public().items == []


# --- get, get_by_id --------------------------------------------------------------------------


def test_get_finds_owner_and_name_case_insensitively(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = fdb.repositories.create(owner_id=owner.id, name="Forge.Core")
    found = fdb.repositories.get(owner.username.upper(), "forge.core", viewer_id=None)
    assert (found.id, found.name, found.viewer_role) == (repo.id, "Forge.Core", "read")


def test_get_of_an_unknown_repository_is_not_found(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    make_repository(fdb, owner)
    with pytest.raises(NotFound, match="not found"):
        fdb.repositories.get(owner.username, "nothing-here")
    with pytest.raises(NotFound, match="not found"):
        fdb.repositories.get("nobody", "nothing-here")
    with pytest.raises(NotFound, match="not found"):
        fdb.repositories.get_by_id(2**62)


@pytest.mark.parametrize("bad", [True, 0, -1, 2**63, "1", None])
def test_a_repository_id_that_is_not_a_positive_bigint_is_invalid_input(
    fdb: ForgeDB, bad: Any
) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.get_by_id(bad)
    assert info.value.field == "repository_id"


def test_a_redirect_to_a_private_repository_is_not_followed_for_strangers(
    fdb: ForgeDB, private_world: World
) -> None:
    w = private_world
    fdb.repositories.rename(w.repo.id, actor_id=w.owner.id, new_name="moved")
    for viewer in (w.stranger.id, None):
        with pytest.raises(NotFound):
            fdb.repositories.get(w.owner.username, w.repo.name, viewer_id=viewer)
    assert (
        fdb.repositories.get(w.owner.username, w.repo.name, viewer_id=w.reader.id).id == w.repo.id
    )


def _roles_seen(db: ForgeDB, w: World, viewer: int | None) -> dict[str, str | None]:
    """The viewer_role each read of repositories gives ``w.repo`` (``None``: not there)."""

    def among(page: list[Repository]) -> str | None:
        return next((r.viewer_role for r in page if r.id == w.repo.id), None)

    def found(read: Any) -> str | None:
        try:
            return str(read().viewer_role)
        except NotFound:
            return None

    return {
        "get": found(lambda: db.repositories.get(w.repo.owner, w.repo.name, viewer_id=viewer)),
        "get_by_id": found(lambda: db.repositories.get_by_id(w.repo.id, viewer_id=viewer)),
        "list_for_owner": among(
            db.repositories.list_for_owner(w.owner.username, viewer_id=viewer).items
        ),
        "list_for_viewer": (
            among(db.repositories.list_for_viewer(viewer_id=viewer).items) if viewer else None
        ),
        "list_public": among(db.repositories.list_public(viewer_id=viewer).items),
    }


def test_every_read_of_a_private_repository_gives_each_viewer_their_own_role(
    fdb: ForgeDB, private_world: World
) -> None:
    w = private_world
    for user, role in [
        (w.owner, "admin"),
        (w.admin, "admin"),
        (w.writer, "write"),
        (w.reader, "read"),
    ]:
        expected = dict.fromkeys(READS, role) | {"list_public": None}
        assert _roles_seen(fdb, w, user.id) == expected, user.username
    for viewer in (w.stranger.id, None):
        assert _roles_seen(fdb, w, viewer) == dict.fromkeys(READS, None)


def test_every_read_of_a_public_repository_gives_each_viewer_their_own_role(
    fdb: ForgeDB, public_world: World
) -> None:
    w = public_world
    for user, role in [
        (w.owner, "admin"),
        (w.admin, "admin"),
        (w.writer, "write"),
        (w.reader, "read"),
    ]:
        assert _roles_seen(fdb, w, user.id) == dict.fromkeys(READS, role), user.username
    for viewer in (w.stranger.id, None):
        # Anyone reads a public repository; it is "theirs" to list only with a role.
        expected = dict.fromkeys(READS, "read") | {"list_for_viewer": None}
        assert _roles_seen(fdb, w, viewer) == expected


# --- list_for_owner --------------------------------------------------------------------------


def test_list_for_owner_pages_by_name_case_insensitively(fdb: ForgeDB) -> None:
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


def test_list_for_owner_holds_only_that_owners_repositories(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    mine = make_repository(fdb, alice)
    make_repository(fdb, bob)
    assert [r.id for r in fdb.repositories.list_for_owner(alice.username.upper()).items] == [
        mine.id
    ]
    assert fdb.repositories.list_for_owner("nobody").items == []


def test_list_for_owner_shows_private_repositories_to_those_who_can_read_them(
    fdb: ForgeDB, private_world: World
) -> None:
    w = private_world
    for user in (w.owner, w.reader):
        listed = fdb.repositories.list_for_owner(w.owner.username, viewer_id=user.id).items
        assert {r.id for r in listed} == {w.repo.id, w.empty.id}


def test_a_cursor_of_another_list_is_refused(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    for owner in (alice, bob):
        for _ in range(3):
            make_repository(fdb, owner)
    cursor = fdb.repositories.list_for_owner(alice.username, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput, match="cursor") as info:
        fdb.repositories.list_for_owner(bob.username, limit=1, cursor=cursor)
    assert info.value.field == "cursor"
    with pytest.raises(InvalidInput, match="cursor"):
        fdb.repositories.list_public(limit=1, cursor=cursor)
    with pytest.raises(InvalidInput, match="cursor"):
        fdb.repositories.list_for_viewer(viewer_id=alice.id, limit=1, cursor=cursor)
    with pytest.raises(InvalidInput, match="cursor"):
        fdb.repositories.list_for_owner(alice.username, cursor="garbage!")


@pytest.mark.parametrize("limit", [0, -1, 101, 1000, True, "10"])
def test_a_page_size_is_from_1_to_100(fdb: ForgeDB, limit: Any) -> None:
    owner = make_user(fdb)
    asks: list[Callable[[], object]] = [
        lambda: fdb.repositories.list_public(limit=limit),
        lambda: fdb.repositories.list_for_owner(owner.username, limit=limit),
        lambda: fdb.repositories.list_for_viewer(viewer_id=owner.id, limit=limit),
    ]
    for ask in asks:
        with pytest.raises(InvalidInput) as info:
            ask()
        assert info.value.field == "limit"


# --- list_for_viewer -------------------------------------------------------------------------


def test_list_for_viewer_holds_owned_and_collaborated_repositories(fdb: ForgeDB) -> None:
    owner, member = make_user(fdb), make_user(fdb)
    own = make_repository(fdb, member, private=True)
    shared = make_repository(fdb, owner, private=True)
    make_repository(fdb, owner, private=True)
    make_repository(fdb, owner)  # public, but the member neither owns nor collaborates on it
    fdb.repositories.collaborators.set(shared.id, actor_id=owner.id, user_id=member.id, role="read")
    page = fdb.repositories.list_for_viewer(viewer_id=member.id)
    assert {r.id for r in page.items} == {own.id, shared.id}


def test_list_for_viewer_puts_the_most_recently_updated_first(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    first, second, third = (make_repository(fdb, owner) for _ in range(3))
    fdb.repositories.update(first.id, actor_id=owner.id, description="touched")
    listed = fdb.repositories.list_for_viewer(viewer_id=owner.id).items
    assert [r.id for r in listed] == [first.id, third.id, second.id]


def test_list_for_viewer_needs_a_viewer(fdb: ForgeDB) -> None:
    """Anonymous has no repositories of its own: asking is a mistake, not an empty list."""
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.list_for_viewer(viewer_id=None)  # type: ignore[arg-type]
    assert info.value.field == "viewer_id"


def test_list_for_viewer_pages_join_to_the_whole_list_with_ties(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    with fdb.transaction() as tx:  # one transaction: every updated_at is the same
        for _ in range(7):
            make_repository(tx, owner)  # type: ignore[arg-type]
    make_repository(fdb, owner)
    whole = fdb.repositories.list_for_viewer(viewer_id=owner.id, limit=100).items
    paged = walk(
        lambda c: fdb.repositories.list_for_viewer(viewer_id=owner.id, limit=3, cursor=c), 3
    )
    assert len(whole) == 8
    assert [r.id for r in paged] == [r.id for r in whole]


# --- list_public -----------------------------------------------------------------------------


def test_list_public_holds_every_public_repository_newest_first(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    older = make_repository(fdb, alice)
    make_repository(fdb, alice, private=True)
    newer = make_repository(fdb, bob)
    for viewer in (None, alice.id, bob.id):
        listed = fdb.repositories.list_public(viewer_id=viewer).items
        assert [r.id for r in listed] == [newer.id, older.id]


def test_list_public_pages_join_to_the_whole_list_with_ties(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    with fdb.transaction() as tx:  # one transaction: every created_at is the same
        for _ in range(7):
            make_repository(tx, owner)  # type: ignore[arg-type]
    make_repository(fdb, owner)
    make_repository(fdb, owner, private=True)
    whole = fdb.repositories.list_public(limit=100).items
    paged = walk(lambda c: fdb.repositories.list_public(limit=3, cursor=c), 3)
    assert len(whole) == 8
    assert [r.id for r in paged] == [r.id for r in whole]


def test_list_for_owner_pages_join_to_the_whole_list(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    for _ in range(7):
        make_repository(fdb, owner)
    whole = fdb.repositories.list_for_owner(owner.username, limit=100).items
    paged = walk(lambda c: fdb.repositories.list_for_owner(owner.username, limit=3, cursor=c), 3)
    assert len(whole) == 7
    assert [r.id for r in paged] == [r.id for r in whole]


# --- update ----------------------------------------------------------------------------------


def test_update_changes_only_the_settings_given(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner, description="old", default_bookmark="trunk")
    updated = fdb.repositories.update(repo.id, actor_id=owner.id, description="new")
    assert (updated.description, updated.default_bookmark) == ("new", "trunk")
    assert (updated.private, updated.archived) == (False, False)
    moved = fdb.repositories.update(repo.id, actor_id=owner.id, default_bookmark="main")
    assert (moved.description, moved.default_bookmark) == ("new", "main")
    assert fdb.repositories.get_by_id(repo.id, viewer_id=owner.id) == moved


def test_making_a_repository_private_hides_it_from_strangers(fdb: ForgeDB) -> None:
    owner, stranger = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    assert fdb.repositories.update(repo.id, actor_id=owner.id, private=True).private is True
    with pytest.raises(NotFound):
        fdb.repositories.get_by_id(repo.id, viewer_id=stranger.id)
    assert fdb.repositories.list_public().items == []
    assert fdb.repositories.update(repo.id, actor_id=owner.id, private=False).private is False
    assert fdb.repositories.get_by_id(repo.id, viewer_id=stranger.id).id == repo.id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("private", "yes"),
        ("private", "no"),
        ("private", 1),
        ("private", None),
        ("archived", "false"),
        ("archived", 0),
        ("description", "d" * 2001),
        ("default_bookmark", "a b"),
    ],
)
def test_bad_updates_are_invalid_input_naming_the_field(
    fdb: ForgeDB, field: str, value: Any
) -> None:
    """No truthy strings or numbers for a flag (issue 15, silent coercions)."""
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.update(repo.id, actor_id=owner.id, **{field: value})
    assert info.value.field == field
    assert fdb.repositories.get_by_id(repo.id, viewer_id=owner.id) == repo


@pytest.mark.parametrize("bad", [True, 0, 2**63, "1"])
def test_an_actor_id_that_is_not_a_positive_bigint_is_invalid_input(fdb: ForgeDB, bad: Any) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.update(repo.id, actor_id=bad, description="x")
    assert info.value.field == "actor_id"


def test_an_archived_repository_refuses_every_change_but_unarchiving(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    archived = fdb.repositories.update(repo.id, actor_id=owner.id, archived=True)
    assert archived.archived is True
    with pytest.raises(Conflict, match="archived"):
        fdb.repositories.update(repo.id, actor_id=owner.id, description="nope")
    with pytest.raises(Conflict, match="archived"):
        fdb.repositories.update(repo.id, actor_id=owner.id, archived=False, description="nope")
    with pytest.raises(Conflict, match="archived"):
        fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    assert fdb.repositories.get_by_id(repo.id, viewer_id=owner.id) == archived


def test_an_archived_repository_is_still_readable(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    fdb.repositories.update(repo.id, actor_id=owner.id, archived=True)
    assert fdb.repositories.get_by_id(repo.id).archived is True
    assert [b.name for b in fdb.repositories.bookmarks.list(repo.id)] == ["main"]


def test_unarchiving_makes_a_repository_writable_again(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.update(repo.id, actor_id=owner.id, archived=True)
    assert fdb.repositories.update(repo.id, actor_id=owner.id, archived=False).archived is False
    assert fdb.repositories.bookmarks.set(
        repo.id, actor_id=owner.id, name="main", targets=A
    ).targets == [A]


# --- rename ----------------------------------------------------------------------------------


def test_rename_keeps_the_old_name_resolving(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = fdb.repositories.create(owner_id=owner.id, name="old-name")
    renamed = fdb.repositories.rename(repo.id, actor_id=owner.id, new_name="new-name")
    assert (renamed.id, renamed.name) == (repo.id, "new-name")
    assert fdb.repositories.get(owner.username, "old-name").name == "new-name"
    assert fdb.repositories.get(owner.username, "OLD-NAME").id == repo.id
    assert fdb.repositories.get(owner.username, "new-name").id == repo.id


def test_a_new_repository_takes_over_an_old_name(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = fdb.repositories.create(owner_id=owner.id, name="old-name")
    fdb.repositories.rename(repo.id, actor_id=owner.id, new_name="new-name")
    fresh = fdb.repositories.create(owner_id=owner.id, name="old-name")
    assert fdb.repositories.get(owner.username, "old-name").id == fresh.id
    assert fdb.repositories.get(owner.username, "new-name").id == repo.id


def test_rename_onto_a_taken_name_already_exists(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    fdb.repositories.create(owner_id=owner.id, name="taken")
    repo = fdb.repositories.create(owner_id=owner.id, name="mine")
    with pytest.raises(AlreadyExists, match="already has a repository"):
        fdb.repositories.rename(repo.id, actor_id=owner.id, new_name="Taken")
    assert fdb.repositories.get_by_id(repo.id).name == "mine"


@pytest.mark.parametrize("name", ["", "..", "a/b", "x.git", None])
def test_rename_to_a_bad_name_is_invalid_input(fdb: ForgeDB, name: Any) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.rename(repo.id, actor_id=owner.id, new_name=name)
    assert info.value.field == "new_name"
    assert fdb.repositories.get_by_id(repo.id).name == repo.name


# --- delete ----------------------------------------------------------------------------------


def test_delete_removes_the_repository_and_everything_in_it(
    fdb: ForgeDB, private_world: World, conn: psycopg.Connection[Any]
) -> None:
    w = private_world
    assert fdb.repositories.delete(w.repo.id, actor_id=w.owner.id) == w.repo.id
    with pytest.raises(NotFound):
        fdb.repositories.get_by_id(w.repo.id, viewer_id=w.owner.id)
    for table in ("repository_collaborators", "bookmarks", "branches", "protected_branches"):
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE repository_id = %s", (w.repo.id,)
        ).fetchone()
        assert row == (0,), table
    assert fdb.repositories.get_by_id(w.empty.id).id == w.empty.id


def test_delete_of_a_deleted_repository_is_not_found(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.delete(repo.id, actor_id=owner.id)
    with pytest.raises(NotFound):
        fdb.repositories.delete(repo.id, actor_id=owner.id)


def test_a_deleted_repositorys_name_is_free_again(fdb: ForgeDB) -> None:
    owner: User = make_user(fdb)
    repo: Repository = fdb.repositories.create(owner_id=owner.id, name="again")
    fdb.repositories.delete(repo.id, actor_id=owner.id)
    fresh = fdb.repositories.create(owner_id=owner.id, name="again")
    assert fdb.repositories.get(owner.username, "again").id == fresh.id != repo.id
