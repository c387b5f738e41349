"""db.issues.pins: up to three issues pinned to the top of a repository's issue list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from forge_db import AlreadyExists, Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied

from .conftest import World, numbers, open_issue, unchanged

Conn = psycopg.Connection[Any]


@pytest.fixture
def four(fdb: ForgeDB, world: World) -> int:
    """Issues #1-#4 of the public repository."""
    for n in range(4):
        open_issue(fdb, world.repo, world.owner, f"t{n + 1}")
    return world.repo.id


def _pin(fdb: ForgeDB, world: World, number: int) -> int:
    return fdb.issues.pins.add(world.repo.id, number, actor_id=world.owner.id)


def _pinned(fdb: ForgeDB, world: World) -> list[int]:
    return numbers(fdb.issues.pins.list(world.repo.id))


# --- add ---------------------------------------------------------------------------------------


def test_pins_take_the_first_free_of_three_places(fdb: ForgeDB, world: World, four: int) -> None:
    assert [_pin(fdb, world, n) for n in (2, 1, 3)] == [1, 2, 3]
    assert _pinned(fdb, world) == [2, 1, 3]


def test_a_fourth_pin_is_a_conflict(fdb: ForgeDB, world: World, four: int, conn: Conn) -> None:
    for n in (1, 2, 3):
        _pin(fdb, world, n)
    with unchanged(conn), pytest.raises(Conflict, match="three"):
        _pin(fdb, world, 4)


def test_pinning_a_pinned_issue_is_already_exists(
    fdb: ForgeDB, world: World, four: int, conn: Conn
) -> None:
    _pin(fdb, world, 1)
    with unchanged(conn), pytest.raises(AlreadyExists, match="pinned already"):
        _pin(fdb, world, 1)


def test_pinning_an_unknown_issue_is_not_found(
    fdb: ForgeDB, world: World, four: int, conn: Conn
) -> None:
    with unchanged(conn), pytest.raises(NotFound, match="#9"):
        _pin(fdb, world, 9)


def test_a_pin_carries_the_issue_as_a_list_shows_it(fdb: ForgeDB, world: World, four: int) -> None:
    _pin(fdb, world, 3)
    [pinned] = fdb.issues.pins.list(world.repo.id)
    [listed] = [i for i in fdb.issues.list(world.repo.id).items if i.number == 3]
    assert pinned == listed


# --- remove ------------------------------------------------------------------------------------


def test_unpinning_keeps_the_others_in_place_and_frees_the_slot(
    fdb: ForgeDB, world: World, four: int
) -> None:
    for n in (1, 2, 3):
        _pin(fdb, world, n)
    assert fdb.issues.pins.remove(world.repo.id, 2, actor_id=world.owner.id) is True
    assert _pinned(fdb, world) == [1, 3]
    assert _pin(fdb, world, 4) == 2
    assert _pinned(fdb, world) == [1, 4, 3]


def test_unpinning_an_issue_that_is_not_pinned_changes_nothing(
    fdb: ForgeDB, world: World, four: int, conn: Conn
) -> None:
    _pin(fdb, world, 1)
    with unchanged(conn):
        assert fdb.issues.pins.remove(world.repo.id, 2, actor_id=world.owner.id) is False
        assert fdb.issues.pins.remove(world.repo.id, 9, actor_id=world.owner.id) is False


# --- reorder -----------------------------------------------------------------------------------


@pytest.fixture
def three_pinned(fdb: ForgeDB, world: World, four: int) -> int:
    """Issues #1, #2, #3 pinned in that order."""
    for n in (1, 2, 3):
        _pin(fdb, world, n)
    return world.repo.id


@pytest.mark.parametrize("order", [[3, 1, 2], [2, 1, 3], [1, 2, 3]], ids=["rotate", "swap", "same"])
def test_reorder_sets_the_order_of_every_pin_at_once(
    fdb: ForgeDB, world: World, three_pinned: int, order: list[int]
) -> None:
    reordered = fdb.issues.pins.reorder(world.repo.id, actor_id=world.owner.id, numbers=order)
    assert numbers(reordered) == order
    assert _pinned(fdb, world) == order


def test_reorder_of_fewer_pins_than_three(fdb: ForgeDB, world: World, four: int) -> None:
    _pin(fdb, world, 4)
    _pin(fdb, world, 1)
    fdb.issues.pins.reorder(world.repo.id, actor_id=world.owner.id, numbers=[1, 4])
    assert _pinned(fdb, world) == [1, 4]


@pytest.mark.parametrize(
    "order",
    [[3, 1], [3, 1, 4], [3, 1, 9]],
    ids=["missing", "unpinned", "unknown"],
)
def test_reorder_must_list_exactly_the_pinned_issues(
    fdb: ForgeDB, world: World, three_pinned: int, conn: Conn, order: list[int]
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match="pinned issues"):
        fdb.issues.pins.reorder(world.repo.id, actor_id=world.owner.id, numbers=order)


def test_a_wrong_order_is_invalid_input_naming_numbers(
    fdb: ForgeDB, world: World, three_pinned: int
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.pins.reorder(world.repo.id, actor_id=world.owner.id, numbers=[3, 1])
    assert refused.value.field == "numbers"


@pytest.mark.parametrize(
    "order",
    [[], [1, 1, 2], [1, 2, 3, 4, 5], [0, 1, 2], "123"],
    ids=["empty", "repeat", "five", "zero", "text"],
)
def test_a_malformed_order_is_invalid_input_naming_numbers(
    fdb: ForgeDB, world: World, three_pinned: int, order: Any
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.pins.reorder(world.repo.id, actor_id=world.owner.id, numbers=order)
    assert refused.value.field == "numbers"


# --- list --------------------------------------------------------------------------------------


def test_a_repository_without_pins_lists_none(fdb: ForgeDB, world: World, four: int) -> None:
    assert fdb.issues.pins.list(world.repo.id) == []


@pytest.fixture
def private_pins(fdb: ForgeDB, world: World) -> int:
    """The private repository: issues #1, #2, #3, with #2 and #1 pinned."""
    for _ in range(3):
        open_issue(fdb, world.private, world.owner)
    for n in (2, 1):
        fdb.issues.pins.add(world.private.id, n, actor_id=world.owner.id)
    return world.private.id


@pytest.mark.parametrize("viewer", ["stranger", "anonymous"])
def test_a_private_repositorys_pins_are_hidden_from_those_who_cannot_read_it(
    fdb: ForgeDB, world: World, private_pins: int, viewer: str
) -> None:
    viewer_id = world.stranger.id if viewer == "stranger" else None
    assert fdb.issues.pins.list(private_pins, viewer_id=viewer_id) == []


def test_a_read_collaborator_sees_a_private_repositorys_pins(
    fdb: ForgeDB, world: World, private_pins: int
) -> None:
    seen = fdb.issues.pins.list(private_pins, viewer_id=world.reader.id)
    assert seen == fdb.issues.pins.list(private_pins, viewer_id=world.owner.id)
    assert numbers(seen) == [2, 1]


# --- who may write ------------------------------------------------------------------------------

# Every write of db.issues.pins, given (fdb, repository id, actor id), on a repository whose
# issues #2 and #1 are pinned and #3 is not.
_WRITES: dict[str, Callable[[ForgeDB, int, int], object]] = {
    "add": lambda fdb, r, a: fdb.issues.pins.add(r, 3, actor_id=a),
    "remove": lambda fdb, r, a: fdb.issues.pins.remove(r, 2, actor_id=a),
    "reorder": lambda fdb, r, a: fdb.issues.pins.reorder(r, actor_id=a, numbers=[1, 2]),
}


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_read_collaborator_is_refused_every_pin_write(
    fdb: ForgeDB, world: World, private_pins: int, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(PermissionDenied, match="write role"):
        _WRITES[write](fdb, private_pins, world.reader.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_stranger_is_told_the_private_repository_does_not_exist(
    fdb: ForgeDB, world: World, private_pins: int, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(NotFound, match="not found"):
        _WRITES[write](fdb, private_pins, world.stranger.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_writer_may_make_every_pin_write(
    fdb: ForgeDB, world: World, private_pins: int, write: str
) -> None:
    _WRITES[write](fdb, private_pins, world.writer.id)
    pinned = numbers(fdb.issues.pins.list(private_pins, viewer_id=world.writer.id))
    assert pinned == {"add": [2, 1, 3], "remove": [1], "reorder": [1, 2]}[write]
