"""db.issues.assignees: who works on an issue (at most ten, each able to see the repository)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from support import make_user

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.issues import Issue

from .conftest import World, open_issue, unchanged

Conn = psycopg.Connection[Any]


def _usernames(issue: Issue) -> list[str]:
    return [a.username for a in issue.assignees]


@pytest.fixture
def issue(fdb: ForgeDB, world: World) -> int:
    """Issue #1 of the public repository, opened by the owner."""
    return open_issue(fdb, world.repo, world.owner).number


# --- add ---------------------------------------------------------------------------------------


def test_add_assigns_users_in_order_of_name(fdb: ForgeDB, world: World, issue: int) -> None:
    zed, amy = make_user(fdb, "zed"), make_user(fdb, "amy")
    assigned = fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[zed.id, amy.id]
    )
    assert _usernames(assigned) == [amy.username, zed.username]
    assert fdb.issues.get(world.repo.id, issue) == assigned


def test_a_new_assignee_is_notified(fdb: ForgeDB, world: World, issue: int) -> None:
    fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[world.reader.id]
    )
    [told] = fdb.collaboration.notifications.list(viewer_id=world.reader.id).items
    assert (told.reason, told.issue_number, told.actor) == ("assign", issue, world.owner.username)


def test_assigning_an_assignee_again_changes_nothing(
    fdb: ForgeDB, world: World, issue: int
) -> None:
    first = fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[world.reader.id]
    )
    again = fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[world.reader.id]
    )
    assert again.assignees == first.assignees
    assert len(fdb.collaboration.notifications.list(viewer_id=world.reader.id).items) == 1


def test_an_issue_takes_at_most_ten_assignees(
    fdb: ForgeDB, world: World, issue: int, conn: Conn
) -> None:
    people = [make_user(fdb).id for _ in range(11)]
    ten = fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=people[:10]
    )
    assert len(ten.assignees) == 10
    with unchanged(conn), pytest.raises(Conflict, match="10 assignees"):
        fdb.issues.assignees.add(
            world.repo.id, issue, actor_id=world.owner.id, user_ids=people[10:]
        )


def test_someone_who_cannot_see_the_repository_is_not_assigned(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    number = open_issue(fdb, world.private, world.owner).number
    with unchanged(conn), pytest.raises(InvalidInput, match="cannot see"):
        fdb.issues.assignees.add(
            world.private.id,
            number,
            actor_id=world.owner.id,
            user_ids=[world.reader.id, world.stranger.id],
        )


def test_someone_who_cannot_see_the_repository_is_invalid_input_naming_user_ids(
    fdb: ForgeDB, world: World
) -> None:
    number = open_issue(fdb, world.private, world.owner).number
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.assignees.add(
            world.private.id, number, actor_id=world.owner.id, user_ids=[world.stranger.id]
        )
    assert refused.value.field == "user_ids"


def test_a_deactivated_user_is_not_assigned(
    fdb: ForgeDB, world: World, issue: int, conn: Conn
) -> None:
    gone = make_user(fdb)
    fdb.users.deactivate(gone.id)
    with unchanged(conn), pytest.raises(InvalidInput):
        fdb.issues.assignees.add(world.repo.id, issue, actor_id=world.owner.id, user_ids=[gone.id])


@pytest.mark.parametrize("user_ids", [[], [0], "1", [True]], ids=["none", "zero", "text", "bool"])
def test_user_ids_must_name_at_least_one_user_by_id(
    fdb: ForgeDB, world: World, issue: int, user_ids: Any
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.assignees.add(world.repo.id, issue, actor_id=world.owner.id, user_ids=user_ids)
    assert refused.value.field == "user_ids"


def test_add_on_an_unknown_issue_is_not_found(fdb: ForgeDB, world: World, issue: int) -> None:
    with pytest.raises(NotFound, match="#4"):
        fdb.issues.assignees.add(
            world.repo.id, 4, actor_id=world.owner.id, user_ids=[world.reader.id]
        )


# --- remove ------------------------------------------------------------------------------------


def test_remove_unassigns_only_those_named(fdb: ForgeDB, world: World, issue: int) -> None:
    people = [world.reader.id, world.writer.id, world.stranger.id]
    fdb.issues.assignees.add(world.repo.id, issue, actor_id=world.owner.id, user_ids=people)
    after = fdb.issues.assignees.remove(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=people[:2]
    )
    assert _usernames(after) == [world.stranger.username]
    assert fdb.issues.get(world.repo.id, issue).assignees == after.assignees


def test_remove_returns_the_issue_as_it_is_stored(fdb: ForgeDB, world: World, issue: int) -> None:
    fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[world.reader.id]
    )
    after = fdb.issues.assignees.remove(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[world.reader.id]
    )
    assert after == fdb.issues.get(world.repo.id, issue)


def test_removing_someone_not_assigned_changes_nothing(
    fdb: ForgeDB, world: World, issue: int
) -> None:
    fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[world.reader.id]
    )
    after = fdb.issues.assignees.remove(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=[world.writer.id]
    )
    assert _usernames(after) == [world.reader.username]


def test_removing_an_assignee_frees_a_place(fdb: ForgeDB, world: World, issue: int) -> None:
    people = [make_user(fdb).id for _ in range(11)]
    fdb.issues.assignees.add(world.repo.id, issue, actor_id=world.owner.id, user_ids=people[:10])
    fdb.issues.assignees.remove(world.repo.id, issue, actor_id=world.owner.id, user_ids=people[:1])
    after = fdb.issues.assignees.add(
        world.repo.id, issue, actor_id=world.owner.id, user_ids=people[10:]
    )
    assert sorted(a.id for a in after.assignees) == sorted(people[1:])
    assert len(fdb.issues.list(world.repo.id, no_assignee=True).items) == 0


def test_remove_on_an_unknown_issue_is_not_found(fdb: ForgeDB, world: World, issue: int) -> None:
    with pytest.raises(NotFound, match="#4"):
        fdb.issues.assignees.remove(
            world.repo.id, 4, actor_id=world.owner.id, user_ids=[world.reader.id]
        )


# --- who may write ------------------------------------------------------------------------------


@pytest.fixture
def staged(fdb: ForgeDB, world: World) -> int:
    """The private repository, whose issue #1 is assigned to the writer."""
    open_issue(fdb, world.private, world.owner, assignees=[world.writer.id])
    return world.private.id


# Every write of db.issues.assignees, given (fdb, world, actor id).
_WRITES: dict[str, Callable[[ForgeDB, World, int], Issue]] = {
    "add": lambda fdb, w, a: fdb.issues.assignees.add(
        w.private.id, 1, actor_id=a, user_ids=[w.reader.id]
    ),
    "remove": lambda fdb, w, a: fdb.issues.assignees.remove(
        w.private.id, 1, actor_id=a, user_ids=[w.writer.id]
    ),
}


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_read_collaborator_is_refused_every_assignee_write(
    fdb: ForgeDB, world: World, staged: int, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(PermissionDenied, match="write role"):
        _WRITES[write](fdb, world, world.reader.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_stranger_is_told_the_private_repository_does_not_exist(
    fdb: ForgeDB, world: World, staged: int, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(NotFound, match="not found"):
        _WRITES[write](fdb, world, world.stranger.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_writer_may_make_every_assignee_write(
    fdb: ForgeDB, world: World, staged: int, write: str
) -> None:
    changed = _WRITES[write](fdb, world, world.writer.id)
    assert (
        _usernames(changed)
        == {
            "add": sorted([world.reader.username, world.writer.username]),
            "remove": [],
        }[write]
    )
