"""db.collaboration.stars: repositories users have starred."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.collaboration import Stars
from forge_db.query import operations

from .conftest import MISSING_ID, Snapshot, World, walk


def test_every_star_operation_is_tried() -> None:
    assert set(operations(Stars)) == {"toggle", "count", "list"}


# --- toggle, count ---------------------------------------------------------------------------


def test_toggle_stars_then_unstars(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    assert fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id) is True
    assert fdb.collaboration.stars.count(repo.id) == 1
    assert [r.id for r in fdb.collaboration.stars.list(fan.id).items] == [repo.id]
    assert fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id) is False
    assert fdb.collaboration.stars.count(repo.id) == 0
    assert fdb.collaboration.stars.list(fan.id).items == []


def test_count_counts_each_user_once(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repo, other = make_repository(fdb, owner), make_repository(fdb, owner)
    assert fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id) is True
    assert fdb.collaboration.stars.toggle(repo.id, actor_id=owner.id) is True
    assert fdb.collaboration.stars.toggle(other.id, actor_id=owner.id) is True
    assert fdb.collaboration.stars.count(repo.id) == 2
    assert fdb.collaboration.stars.toggle(repo.id, actor_id=owner.id) is False
    assert fdb.collaboration.stars.count(repo.id) == 1
    assert fdb.collaboration.stars.count(other.id) == 1


def test_a_reader_of_a_private_repository_may_star_it(fdb: ForgeDB, private_world: World) -> None:
    w = private_world
    assert fdb.collaboration.stars.toggle(w.repo.id, actor_id=w.reader.id) is True
    assert fdb.collaboration.stars.count(w.repo.id, viewer_id=w.reader.id) == 1


def test_a_stranger_starring_a_private_repository_gets_what_a_missing_one_gives(
    fdb: ForgeDB, private_world: World, snapshot: Snapshot
) -> None:
    w = private_world
    before = snapshot()
    with pytest.raises(NotFound) as hidden:
        fdb.collaboration.stars.toggle(w.repo.id, actor_id=w.stranger.id)
    with pytest.raises(NotFound) as missing:
        fdb.collaboration.stars.toggle(MISSING_ID, actor_id=w.stranger.id)
    assert str(hidden.value).replace(str(w.repo.id), "<id>") == str(missing.value).replace(
        str(MISSING_ID), "<id>"
    )
    assert snapshot() == before


def test_the_star_count_of_a_private_repository_is_not_found_for_strangers(
    fdb: ForgeDB, private_world: World
) -> None:
    w = private_world
    fdb.collaboration.stars.toggle(w.repo.id, actor_id=w.owner.id)
    for viewer in (w.stranger.id, None):
        with pytest.raises(NotFound):
            fdb.collaboration.stars.count(w.repo.id, viewer_id=viewer)
    for user in (w.reader, w.writer, w.owner):
        assert fdb.collaboration.stars.count(w.repo.id, viewer_id=user.id) == 1


def test_the_star_count_of_a_missing_repository_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound):
        fdb.collaboration.stars.count(MISSING_ID)


def test_an_archived_repository_can_still_be_starred(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.repositories.update(repo.id, actor_id=owner.id, archived=True)
    assert fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id) is True
    assert fdb.collaboration.stars.count(repo.id) == 1


def test_a_deleted_repositorys_stars_go_with_it(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id)
    fdb.repositories.delete(repo.id, actor_id=owner.id)
    assert fdb.collaboration.stars.list(fan.id, viewer_id=fan.id).items == []


def test_a_deactivated_user_cannot_star(fdb: ForgeDB, snapshot: Snapshot) -> None:
    """A deactivated account counts as anonymous, and anonymous does not act."""
    owner, gone = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.users.deactivate(gone.id)
    before = snapshot()
    with pytest.raises(PermissionDenied):
        fdb.collaboration.stars.toggle(repo.id, actor_id=gone.id)
    assert snapshot() == before
    assert fdb.collaboration.stars.count(repo.id) == 0


@pytest.mark.parametrize("bad", [True, 0, 2**63, "1", None])
def test_ids_that_are_not_positive_bigints_are_invalid_input(fdb: ForgeDB, bad: Any) -> None:
    user = make_user(fdb)
    repo = make_repository(fdb, user)
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.stars.toggle(bad, actor_id=user.id)
    assert info.value.field == "repository_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.stars.toggle(repo.id, actor_id=bad)
    assert info.value.field == "actor_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.stars.list(bad)
    assert info.value.field == "user_id"


# --- list ------------------------------------------------------------------------------------


def test_list_puts_the_most_recent_star_first(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    first, second, third = (make_repository(fdb, owner) for _ in range(3))
    for repo in (second, first, third):
        fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id)
    listed = fdb.collaboration.stars.list(fan.id).items
    assert [r.id for r in listed] == [third.id, first.id, second.id]
    assert listed[0].starred_at >= listed[1].starred_at >= listed[2].starred_at


def test_list_shows_a_private_star_only_to_viewers_who_can_read_the_repository(
    fdb: ForgeDB, private_world: World
) -> None:
    w = private_world
    fdb.collaboration.stars.toggle(w.repo.id, actor_id=w.owner.id)
    fdb.collaboration.stars.toggle(w.other.id, actor_id=w.owner.id)
    for viewer in (w.owner.id, w.reader.id):
        listed = fdb.collaboration.stars.list(w.owner.id, viewer_id=viewer).items
        assert [r.id for r in listed] == [w.other.id, w.repo.id]
    for outsider in (w.stranger.id, None):
        listed = fdb.collaboration.stars.list(w.owner.id, viewer_id=outsider).items
        assert [r.id for r in listed] == [w.other.id]


def test_list_gives_the_viewers_own_role(fdb: ForgeDB, private_world: World) -> None:
    w = private_world
    fdb.collaboration.stars.toggle(w.repo.id, actor_id=w.reader.id)
    for user, role in [(w.owner, "admin"), (w.writer, "write"), (w.reader, "read")]:
        [starred] = fdb.collaboration.stars.list(w.reader.id, viewer_id=user.id).items
        assert (starred.id, starred.viewer_role) == (w.repo.id, role)


def test_a_star_disappears_from_the_list_when_its_repository_turns_private(
    fdb: ForgeDB,
) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id)
    fdb.repositories.update(repo.id, actor_id=owner.id, private=True)
    assert fdb.collaboration.stars.list(fan.id, viewer_id=fan.id).items == []
    assert [r.id for r in fdb.collaboration.stars.list(fan.id, viewer_id=owner.id).items] == [
        repo.id
    ]


def test_list_pages_join_to_the_whole_list_with_ties(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repos = [make_repository(fdb, owner) for _ in range(8)]
    with fdb.transaction() as tx:  # one transaction: every starred_at is the same
        for repo in repos[:6]:
            tx.collaboration.stars.toggle(repo.id, actor_id=fan.id)
    for repo in repos[6:]:
        fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id)
    whole = fdb.collaboration.stars.list(fan.id, limit=100).items
    paged = walk(lambda c: fdb.collaboration.stars.list(fan.id, limit=3, cursor=c), 3)
    assert len(whole) == 8
    assert [r.id for r in paged] == [r.id for r in whole]


def test_a_cursor_of_another_users_stars_is_refused(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    for repo in (make_repository(fdb, owner) for _ in range(2)):
        fdb.collaboration.stars.toggle(repo.id, actor_id=fan.id)
        fdb.collaboration.stars.toggle(repo.id, actor_id=owner.id)
    cursor = fdb.collaboration.stars.list(fan.id, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.stars.list(owner.id, limit=1, cursor=cursor)
    assert info.value.field == "cursor"
