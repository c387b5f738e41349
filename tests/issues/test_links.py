"""db.issues.links: dependencies (blocks / blocked by) and subtasks (parent / children)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from forge_db import AlreadyExists, Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.issues import IssueLinks

from .conftest import World, numbers, open_issue, unchanged

Conn = psycopg.Connection[Any]


@pytest.fixture
def four(fdb: ForgeDB, world: World) -> int:
    """Issues #1-#4 of the public repository; #4 is closed."""
    for n in range(4):
        open_issue(fdb, world.repo, world.owner, f"t{n + 1}")
    fdb.issues.close(world.repo.id, 4, actor_id=world.owner.id)
    return world.repo.id


def _block(fdb: ForgeDB, world: World, blocking: int, blocked: int) -> bool:
    return fdb.issues.links.add_dependency(
        world.repo.id, actor_id=world.owner.id, blocking=blocking, blocked=blocked
    )


def _nest(fdb: ForgeDB, world: World, parent: int, child: int) -> bool:
    return fdb.issues.links.add_subtask(
        world.repo.id, actor_id=world.owner.id, parent=parent, child=child
    )


def _links(fdb: ForgeDB, world: World, number: int) -> IssueLinks:
    return fdb.issues.links.get(world.repo.id, number)


# --- dependencies ------------------------------------------------------------------------------


def test_a_dependency_shows_on_both_issues(fdb: ForgeDB, world: World, four: int) -> None:
    assert _block(fdb, world, 1, 2) is True
    assert _block(fdb, world, 4, 2) is True
    assert (numbers(_links(fdb, world, 1).blocks), numbers(_links(fdb, world, 1).blocked_by)) == (
        [2],
        [],
    )
    blocked = _links(fdb, world, 2)
    assert [(ref.number, ref.title, ref.state) for ref in blocked.blocked_by] == [
        (1, "t1", "open"),
        (4, "t4", "closed"),
    ]
    assert blocked.blocks == []


def test_adding_a_dependency_twice_changes_nothing(
    fdb: ForgeDB, world: World, four: int, conn: Conn
) -> None:
    _block(fdb, world, 1, 2)
    with unchanged(conn):
        assert _block(fdb, world, 1, 2) is False


@pytest.mark.parametrize("length", [2, 3, 4])
def test_a_dependency_that_closes_a_cycle_is_a_conflict(
    fdb: ForgeDB, world: World, four: int, conn: Conn, length: int
) -> None:
    for n in range(1, length):
        _block(fdb, world, n, n + 1)
    with unchanged(conn), pytest.raises(Conflict, match="cycle"):
        _block(fdb, world, length, 1)


def test_an_issue_cannot_block_itself(fdb: ForgeDB, world: World, four: int, conn: Conn) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match="itself"):
        _block(fdb, world, 1, 1)


def test_a_self_dependency_is_invalid_input_naming_a_parameter_of_the_call(
    fdb: ForgeDB, world: World, four: int
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _block(fdb, world, 1, 1)
    assert refused.value.field in {"blocking", "blocked"}


@pytest.mark.parametrize(("blocking", "blocked"), [(1, 9), (9, 1)])
def test_a_dependency_on_a_missing_issue_is_not_found(
    fdb: ForgeDB, world: World, four: int, conn: Conn, blocking: int, blocked: int
) -> None:
    with unchanged(conn), pytest.raises(NotFound, match="#9"):
        _block(fdb, world, blocking, blocked)


def test_a_dependency_is_removed_once(fdb: ForgeDB, world: World, four: int) -> None:
    _block(fdb, world, 1, 2)
    _block(fdb, world, 1, 3)

    def remove() -> bool:
        return fdb.issues.links.remove_dependency(
            world.repo.id, actor_id=world.owner.id, blocking=1, blocked=2
        )

    assert remove() is True
    assert numbers(_links(fdb, world, 1).blocks) == [3]
    assert _links(fdb, world, 2).blocked_by == []
    assert remove() is False


def test_removing_the_reverse_of_a_dependency_changes_nothing(
    fdb: ForgeDB, world: World, four: int
) -> None:
    _block(fdb, world, 1, 2)
    removed = fdb.issues.links.remove_dependency(
        world.repo.id, actor_id=world.owner.id, blocking=2, blocked=1
    )
    assert removed is False
    assert numbers(_links(fdb, world, 1).blocks) == [2]


def test_removing_a_dependency_on_a_missing_issue_is_not_found(
    fdb: ForgeDB, world: World, four: int
) -> None:
    with pytest.raises(NotFound, match="#9"):
        fdb.issues.links.remove_dependency(
            world.repo.id, actor_id=world.owner.id, blocking=9, blocked=1
        )


def test_removing_a_link_to_a_missing_issue_is_not_found_whatever_the_plan(
    fdb: ForgeDB, world: World, four: int, conn: psycopg.Connection[Any]
) -> None:
    # With the link tables analyzed while empty, the planner reads them first and would never
    # reach the lookup that refuses a missing issue: the statement must run it regardless.
    conn.execute("DELETE FROM issue_dependencies")
    conn.execute("DELETE FROM subtasks")
    conn.execute("ANALYZE issue_dependencies")
    conn.execute("ANALYZE subtasks")
    with pytest.raises(NotFound, match="#9"):
        fdb.issues.links.remove_dependency(
            world.repo.id, actor_id=world.owner.id, blocking=9, blocked=1
        )
    with pytest.raises(NotFound, match="#9"):
        fdb.issues.links.remove_subtask(world.repo.id, actor_id=world.owner.id, parent=9, child=1)


# --- subtasks ----------------------------------------------------------------------------------


def test_a_subtask_shows_its_parent_and_the_parent_its_subtasks(
    fdb: ForgeDB, world: World, four: int
) -> None:
    assert _nest(fdb, world, 1, 3) is True
    assert _nest(fdb, world, 1, 2) is True
    parent = _links(fdb, world, 1)
    assert (numbers(parent.subtasks), parent.parent) == ([2, 3], None)
    child = _links(fdb, world, 3)
    assert child.parent is not None
    assert (child.parent.number, child.parent.title, child.subtasks) == (1, "t1", [])


def test_adding_a_subtask_twice_changes_nothing(
    fdb: ForgeDB, world: World, four: int, conn: Conn
) -> None:
    _nest(fdb, world, 1, 2)
    with unchanged(conn):
        assert _nest(fdb, world, 1, 2) is False


def test_a_subtask_has_one_parent(fdb: ForgeDB, world: World, four: int, conn: Conn) -> None:
    _nest(fdb, world, 1, 3)
    with unchanged(conn), pytest.raises(AlreadyExists, match="subtask of another issue"):
        _nest(fdb, world, 2, 3)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_a_subtask_that_closes_a_cycle_is_a_conflict(
    fdb: ForgeDB, world: World, four: int, conn: Conn, depth: int
) -> None:
    for n in range(1, depth):
        _nest(fdb, world, n, n + 1)
    with unchanged(conn), pytest.raises(Conflict, match="cycle"):
        _nest(fdb, world, depth, 1)


def test_an_issue_cannot_be_its_own_subtask(
    fdb: ForgeDB, world: World, four: int, conn: Conn
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match="itself"):
        _nest(fdb, world, 2, 2)


def test_a_self_subtask_is_invalid_input_naming_a_parameter_of_the_call(
    fdb: ForgeDB, world: World, four: int
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _nest(fdb, world, 2, 2)
    assert refused.value.field in {"parent", "child"}


@pytest.mark.parametrize(("parent", "child"), [(1, 9), (9, 1)])
def test_a_subtask_link_to_a_missing_issue_is_not_found(
    fdb: ForgeDB, world: World, four: int, conn: Conn, parent: int, child: int
) -> None:
    with unchanged(conn), pytest.raises(NotFound, match="#9"):
        _nest(fdb, world, parent, child)


def test_a_detached_subtask_may_take_another_parent(fdb: ForgeDB, world: World, four: int) -> None:
    _nest(fdb, world, 1, 3)

    def detach() -> bool:
        return fdb.issues.links.remove_subtask(
            world.repo.id, actor_id=world.owner.id, parent=1, child=3
        )

    assert detach() is True
    assert (_links(fdb, world, 3).parent, _links(fdb, world, 1).subtasks) == (None, [])
    assert detach() is False
    assert _nest(fdb, world, 2, 3) is True


def test_dependencies_and_subtasks_are_separate_graphs(
    fdb: ForgeDB, world: World, four: int
) -> None:
    _block(fdb, world, 1, 2)
    assert _nest(fdb, world, 2, 1) is True
    links = _links(fdb, world, 1)
    assert (numbers(links.blocks), links.parent is not None, links.subtasks) == ([2], True, [])


# --- get ---------------------------------------------------------------------------------------


def test_an_issue_without_links_has_none(fdb: ForgeDB, world: World, four: int) -> None:
    assert _links(fdb, world, 1) == IssueLinks(blocks=[], blocked_by=[], parent=None, subtasks=[])


def test_links_of_an_unknown_issue_are_not_found(fdb: ForgeDB, world: World, four: int) -> None:
    with pytest.raises(NotFound, match="#7"):
        _links(fdb, world, 7)


@pytest.fixture
def private_links(fdb: ForgeDB, world: World) -> IssueLinks:
    """In the private repository: #1 blocks #2 and is the parent of #3."""
    for _ in range(3):
        open_issue(fdb, world.private, world.owner)
    owner, repo = world.owner.id, world.private.id
    fdb.issues.links.add_dependency(repo, actor_id=owner, blocking=1, blocked=2)
    fdb.issues.links.add_subtask(repo, actor_id=owner, parent=1, child=3)
    return fdb.issues.links.get(repo, 1, viewer_id=owner)


@pytest.mark.parametrize("viewer", ["stranger", "anonymous"])
def test_a_private_issues_links_are_hidden_from_those_who_cannot_read_it(
    fdb: ForgeDB, world: World, private_links: IssueLinks, viewer: str
) -> None:
    viewer_id = world.stranger.id if viewer == "stranger" else None
    with pytest.raises(NotFound):
        fdb.issues.links.get(world.private.id, 1, viewer_id=viewer_id)


def test_a_read_collaborator_sees_a_private_issues_links(
    fdb: ForgeDB, world: World, private_links: IssueLinks
) -> None:
    seen = fdb.issues.links.get(world.private.id, 1, viewer_id=world.reader.id)
    assert seen == private_links
    assert (numbers(seen.blocks), numbers(seen.subtasks)) == ([2], [3])


# --- who may write ------------------------------------------------------------------------------

# Every write of db.issues.links, given (fdb, repository id, actor id), on a repository where
# #1 blocks #2 and #3 is a subtask of #1.
_WRITES: dict[str, Callable[[ForgeDB, int, int], bool]] = {
    "add_dependency": lambda fdb, r, a: fdb.issues.links.add_dependency(
        r, actor_id=a, blocking=3, blocked=2
    ),
    "remove_dependency": lambda fdb, r, a: fdb.issues.links.remove_dependency(
        r, actor_id=a, blocking=1, blocked=2
    ),
    "add_subtask": lambda fdb, r, a: fdb.issues.links.add_subtask(r, actor_id=a, parent=1, child=2),
    "remove_subtask": lambda fdb, r, a: fdb.issues.links.remove_subtask(
        r, actor_id=a, parent=1, child=3
    ),
}


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_read_collaborator_is_refused_every_link_write(
    fdb: ForgeDB, world: World, private_links: IssueLinks, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(PermissionDenied, match="write role"):
        _WRITES[write](fdb, world.private.id, world.reader.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_stranger_is_told_the_private_repository_does_not_exist(
    fdb: ForgeDB, world: World, private_links: IssueLinks, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(NotFound, match="not found"):
        _WRITES[write](fdb, world.private.id, world.stranger.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_writer_may_make_every_link_write(
    fdb: ForgeDB, world: World, private_links: IssueLinks, write: str
) -> None:
    assert _WRITES[write](fdb, world.private.id, world.writer.id) is True
