"""db.collaboration.reactions: emoji reactions on issues and comments."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.collaboration import EMOJI, Reactions
from forge_db.query import operations

from .conftest import MISSING_ID, Snapshot, World


def test_toggle_is_the_one_reaction_operation() -> None:
    assert set(operations(Reactions)) == {"toggle"}


def _issue_reactions(db: ForgeDB, w: World) -> dict[str, int]:
    return db.issues.get(w.repo.id, w.issue.number, viewer_id=w.owner.id).reactions


def _comment_reactions(db: ForgeDB, w: World) -> dict[str, int]:
    return db.issues.comments.get(w.repo.id, w.comment.id, viewer_id=w.owner.id).reactions


def test_a_reaction_on_an_issue_is_added_then_taken_back(fdb: ForgeDB, public_world: World) -> None:
    w = public_world
    toggle = fdb.collaboration.reactions.toggle
    assert toggle(w.repo.id, actor_id=w.stranger.id, emoji="heart", issue_number=1) is True
    assert _issue_reactions(fdb, w) == {"heart": 1}
    assert toggle(w.repo.id, actor_id=w.stranger.id, emoji="heart", issue_number=1) is False
    assert _issue_reactions(fdb, w) == {}


def test_reactions_count_per_emoji_once_per_user(fdb: ForgeDB, public_world: World) -> None:
    w = public_world
    toggle = fdb.collaboration.reactions.toggle
    assert toggle(w.repo.id, actor_id=w.stranger.id, emoji="heart", issue_number=1) is True
    assert toggle(w.repo.id, actor_id=w.owner.id, emoji="heart", issue_number=1) is True
    assert toggle(w.repo.id, actor_id=w.stranger.id, emoji="+1", issue_number=1) is True
    assert _issue_reactions(fdb, w) == {"heart": 2, "+1": 1}
    assert toggle(w.repo.id, actor_id=w.stranger.id, emoji="heart", issue_number=1) is False
    assert _issue_reactions(fdb, w) == {"heart": 1, "+1": 1}


@pytest.mark.parametrize("emoji", EMOJI)
def test_every_emoji_of_the_vocabulary_is_accepted(
    fdb: ForgeDB, public_world: World, emoji: Any
) -> None:
    w = public_world
    added = fdb.collaboration.reactions.toggle(
        w.repo.id, actor_id=w.reader.id, emoji=emoji, issue_number=1
    )
    assert added is True
    assert _issue_reactions(fdb, w) == {emoji: 1}


def test_a_reaction_on_a_comment_counts_on_the_comment_only(
    fdb: ForgeDB, public_world: World
) -> None:
    w = public_world
    assert (
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.stranger.id, emoji="rocket", comment_id=w.comment.id
        )
        is True
    )
    assert _comment_reactions(fdb, w) == {"rocket": 1}
    assert fdb.issues.comments.list(w.repo.id, 1).items[0].reactions == {"rocket": 1}
    assert _issue_reactions(fdb, w) == {}
    assert (
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.stranger.id, emoji="rocket", comment_id=w.comment.id
        )
        is False
    )
    assert _comment_reactions(fdb, w) == {}


@pytest.mark.parametrize("emoji", ["poop", "", "HEART", ":heart:", None, 1])
def test_an_emoji_outside_the_vocabulary_is_invalid_input(
    fdb: ForgeDB, public_world: World, snapshot: Snapshot, emoji: Any
) -> None:
    w = public_world
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.owner.id, emoji=emoji, issue_number=1
        )
    assert info.value.field == "emoji"
    assert snapshot() == before


def test_a_reaction_needs_exactly_one_target(
    fdb: ForgeDB, public_world: World, snapshot: Snapshot
) -> None:
    w = public_world
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.reactions.toggle(w.repo.id, actor_id=w.owner.id, emoji="eyes")
    assert info.value.field == "issue_number"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.owner.id, emoji="eyes", issue_number=1, comment_id=w.comment.id
        )
    assert info.value.field == "issue_number"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("issue_number", True),
        ("issue_number", 0),
        ("issue_number", "1"),
        ("issue_number", 2**63),
        ("comment_id", True),
        ("comment_id", "1"),
        ("repository_id", 0),
        ("actor_id", True),
    ],
)
def test_ids_that_are_not_positive_bigints_are_invalid_input(
    fdb: ForgeDB, public_world: World, field: str, bad: Any
) -> None:
    w = public_world
    arguments: dict[str, Any] = {"actor_id": w.owner.id, "emoji": "eyes"}
    arguments["comment_id" if field == "comment_id" else "issue_number"] = 1
    arguments[field] = bad
    repository = arguments.pop("repository_id", w.repo.id)
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.reactions.toggle(repository, **arguments)
    assert info.value.field == field


def test_a_reaction_on_a_missing_issue_or_comment_is_not_found(
    fdb: ForgeDB, public_world: World, snapshot: Snapshot
) -> None:
    w = public_world
    before = snapshot()
    with pytest.raises(NotFound):
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.owner.id, emoji="eyes", issue_number=42
        )
    with pytest.raises(NotFound):
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.owner.id, emoji="eyes", comment_id=MISSING_ID
        )
    assert snapshot() == before


def test_a_reaction_on_a_deleted_comment_is_not_found(
    fdb: ForgeDB, public_world: World, snapshot: Snapshot
) -> None:
    w = public_world
    fdb.issues.comments.delete(w.repo.id, w.comment.id, actor_id=w.owner.id)
    before = snapshot()
    with pytest.raises(NotFound):
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.owner.id, emoji="eyes", comment_id=w.comment.id
        )
    assert snapshot() == before


def test_a_public_repositorys_id_reaches_no_comment_of_a_private_one(
    fdb: ForgeDB, private_world: World, snapshot: Snapshot
) -> None:
    """The comment is looked up in the repository the guard checked, not by its id alone."""
    w = private_world
    before = snapshot()
    for actor in (w.stranger, w.reader, w.owner):
        with pytest.raises(NotFound):
            fdb.collaboration.reactions.toggle(
                w.other.id, actor_id=actor.id, emoji="eyes", comment_id=w.comment.id
            )
    assert snapshot() == before
    assert _comment_reactions(fdb, w) == {}


def test_a_private_repositorys_id_reaches_no_comment_of_another_repository(
    fdb: ForgeDB, private_world: World, snapshot: Snapshot
) -> None:
    w = private_world
    before = snapshot()
    with pytest.raises(NotFound):
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.reader.id, emoji="eyes", comment_id=w.other_comment.id
        )
    assert snapshot() == before


def test_a_stranger_reacting_in_a_private_repository_gets_what_a_missing_one_gives(
    fdb: ForgeDB, private_world: World, snapshot: Snapshot
) -> None:
    w = private_world
    before = snapshot()
    with pytest.raises(NotFound) as hidden:
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.stranger.id, emoji="eyes", issue_number=1
        )
    with pytest.raises(NotFound) as missing:
        fdb.collaboration.reactions.toggle(
            MISSING_ID, actor_id=w.stranger.id, emoji="eyes", issue_number=1
        )
    assert str(hidden.value).replace(str(w.repo.id), "<id>") == str(missing.value).replace(
        str(MISSING_ID), "<id>"
    )
    with pytest.raises(NotFound):
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.stranger.id, emoji="eyes", comment_id=w.comment.id
        )
    assert snapshot() == before


def test_a_reader_of_a_private_repository_may_react(fdb: ForgeDB, private_world: World) -> None:
    w = private_world
    toggle = fdb.collaboration.reactions.toggle
    assert toggle(w.repo.id, actor_id=w.reader.id, emoji="eyes", issue_number=1) is True
    assert toggle(w.repo.id, actor_id=w.reader.id, emoji="eyes", comment_id=w.comment.id) is True
    assert _issue_reactions(fdb, w) == {"eyes": 1}
    assert _comment_reactions(fdb, w) == {"eyes": 1}


def test_reacting_on_a_locked_issue_needs_write(
    fdb: ForgeDB, public_world: World, snapshot: Snapshot
) -> None:
    w = public_world
    fdb.issues.set_locked(w.repo.id, 1, actor_id=w.owner.id, locked=True)
    before = snapshot()
    for actor in (w.reader, w.stranger):
        with pytest.raises(PermissionDenied, match="locked"):
            fdb.collaboration.reactions.toggle(
                w.repo.id, actor_id=actor.id, emoji="eyes", issue_number=1
            )
        with pytest.raises(PermissionDenied, match="locked"):
            fdb.collaboration.reactions.toggle(
                w.repo.id, actor_id=actor.id, emoji="eyes", comment_id=w.comment.id
            )
    assert snapshot() == before
    added = fdb.collaboration.reactions.toggle(
        w.repo.id, actor_id=w.writer.id, emoji="eyes", issue_number=1
    )
    assert added is True
    assert _issue_reactions(fdb, w) == {"eyes": 1}


def test_an_archived_repository_refuses_reactions(
    fdb: ForgeDB, public_world: World, snapshot: Snapshot
) -> None:
    w = public_world
    fdb.repositories.update(w.repo.id, actor_id=w.owner.id, archived=True)
    before = snapshot()
    with pytest.raises(Conflict, match="archived"):
        fdb.collaboration.reactions.toggle(
            w.repo.id, actor_id=w.owner.id, emoji="eyes", issue_number=1
        )
    assert snapshot() == before


def test_a_deactivated_user_cannot_react(fdb: ForgeDB, snapshot: Snapshot) -> None:
    """A deactivated account counts as anonymous, and anonymous does not act."""
    owner, gone = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t")
    fdb.users.deactivate(gone.id)
    before = snapshot()
    with pytest.raises(PermissionDenied):
        fdb.collaboration.reactions.toggle(repo.id, actor_id=gone.id, emoji="eyes", issue_number=1)
    assert snapshot() == before
