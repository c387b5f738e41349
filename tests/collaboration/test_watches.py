"""db.collaboration.watches: how much of a repository's activity a user is told about."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.collaboration import Watches
from forge_db.query import operations

from .conftest import MISSING_ID, Snapshot, World


def test_every_watch_operation_is_tried() -> None:
    assert set(operations(Watches)) == {"set", "get"}


def test_a_user_participates_until_they_choose_a_level(fdb: ForgeDB) -> None:
    owner, user = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    assert fdb.collaboration.watches.get(repo.id, viewer_id=user.id) == "participating"


@pytest.mark.parametrize("level", ["watching", "participating", "ignoring"])
def test_set_stores_the_level_chosen(fdb: ForgeDB, level: Any) -> None:
    owner, user = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    assert fdb.collaboration.watches.set(repo.id, actor_id=user.id, level=level) == level
    assert fdb.collaboration.watches.get(repo.id, viewer_id=user.id) == level


def test_set_again_changes_the_level(fdb: ForgeDB) -> None:
    owner, user = make_user(fdb), make_user(fdb)
    repo, other = make_repository(fdb, owner), make_repository(fdb, owner)
    fdb.collaboration.watches.set(repo.id, actor_id=user.id, level="watching")
    assert fdb.collaboration.watches.set(repo.id, actor_id=user.id, level="ignoring") == "ignoring"
    assert fdb.collaboration.watches.get(repo.id, viewer_id=user.id) == "ignoring"
    assert fdb.collaboration.watches.get(other.id, viewer_id=user.id) == "participating"
    assert fdb.collaboration.watches.get(repo.id, viewer_id=owner.id) == "participating"


@pytest.mark.parametrize("level", ["stalking", "Watching", "", None, 1])
def test_a_level_outside_the_vocabulary_is_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot, level: Any
) -> None:
    owner, user = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.watches.set(repo.id, actor_id=user.id, level=level)
    assert info.value.field == "level"
    assert snapshot() == before


def test_a_reader_of_a_private_repository_may_watch_it(fdb: ForgeDB, private_world: World) -> None:
    w = private_world
    level = fdb.collaboration.watches.set(w.repo.id, actor_id=w.reader.id, level="watching")
    assert level == "watching"
    assert fdb.collaboration.watches.get(w.repo.id, viewer_id=w.reader.id) == "watching"


def test_a_stranger_watching_a_private_repository_gets_what_a_missing_one_gives(
    fdb: ForgeDB, private_world: World, snapshot: Snapshot
) -> None:
    w = private_world
    before = snapshot()
    with pytest.raises(NotFound) as hidden:
        fdb.collaboration.watches.set(w.repo.id, actor_id=w.stranger.id, level="watching")
    with pytest.raises(NotFound) as missing:
        fdb.collaboration.watches.set(MISSING_ID, actor_id=w.stranger.id, level="watching")
    assert str(hidden.value).replace(str(w.repo.id), "<id>") == str(missing.value).replace(
        str(MISSING_ID), "<id>"
    )
    assert snapshot() == before


def test_the_watch_level_on_a_private_repository_is_not_found_for_a_stranger(
    fdb: ForgeDB, private_world: World
) -> None:
    w = private_world
    with pytest.raises(NotFound):
        fdb.collaboration.watches.get(w.repo.id, viewer_id=w.stranger.id)
    with pytest.raises(NotFound):
        fdb.collaboration.watches.get(MISSING_ID, viewer_id=w.stranger.id)


def test_a_watch_level_needs_a_viewer(fdb: ForgeDB) -> None:
    """Anonymous watches nothing: asking is a mistake, not an answer."""
    repo = make_repository(fdb, make_user(fdb))
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.watches.get(repo.id, viewer_id=None)  # type: ignore[arg-type]
    assert info.value.field == "viewer_id"


def test_a_watch_level_is_hidden_once_access_is_lost(fdb: ForgeDB, private_world: World) -> None:
    w = private_world
    fdb.collaboration.watches.set(w.repo.id, actor_id=w.reader.id, level="watching")
    fdb.repositories.collaborators.delete(w.repo.id, actor_id=w.owner.id, user_id=w.reader.id)
    with pytest.raises(NotFound):
        fdb.collaboration.watches.get(w.repo.id, viewer_id=w.reader.id)


def test_an_archived_repository_can_still_be_watched(fdb: ForgeDB) -> None:
    owner, user = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.update(repo.id, actor_id=owner.id, archived=True)
    assert fdb.collaboration.watches.set(repo.id, actor_id=user.id, level="ignoring") == "ignoring"


def test_a_deactivated_user_cannot_watch(fdb: ForgeDB, snapshot: Snapshot) -> None:
    """A deactivated account counts as anonymous, and anonymous does not act."""
    owner, gone = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.users.deactivate(gone.id)
    before = snapshot()
    with pytest.raises(PermissionDenied):
        fdb.collaboration.watches.set(repo.id, actor_id=gone.id, level="watching")
    assert snapshot() == before


@pytest.mark.parametrize("bad", [True, 0, 2**63, "1"])
def test_ids_that_are_not_positive_bigints_are_invalid_input(fdb: ForgeDB, bad: Any) -> None:
    user = make_user(fdb)
    repo = make_repository(fdb, user)
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.watches.set(repo.id, actor_id=bad, level="watching")
    assert info.value.field == "actor_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.watches.get(bad, viewer_id=user.id)
    assert info.value.field == "repository_id"
