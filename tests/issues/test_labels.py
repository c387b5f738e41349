"""db.issues.labels: a repository's labels, and the labels on each issue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from forge_db import AlreadyExists, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.issues import Label

from .conftest import World, open_issue, unchanged

Conn = psycopg.Connection[Any]


def _label(fdb: ForgeDB, repo_id: int, actor_id: int, name: str, **options: Any) -> Label:
    return fdb.issues.labels.create(repo_id, actor_id=actor_id, name=name, **options)


def _names(fdb: ForgeDB, repo_id: int, number: int, viewer_id: int | None = None) -> list[str]:
    return [label.name for label in fdb.issues.get(repo_id, number, viewer_id=viewer_id).labels]


# --- create ------------------------------------------------------------------------------------


def test_create_stores_a_trimmed_name_a_lowercase_colour_and_a_description(
    fdb: ForgeDB, world: World
) -> None:
    label = _label(
        fdb, world.repo.id, world.owner.id, "  Bug ", color="ABCDEF", description="broken"
    )
    assert (label.name, label.color, label.description) == ("Bug", "#abcdef", "broken")
    assert label.repository_id == world.repo.id
    assert fdb.issues.labels.list(world.repo.id) == [label]


def test_a_label_without_a_colour_is_light_grey(fdb: ForgeDB, world: World) -> None:
    assert _label(fdb, world.repo.id, world.owner.id, "x").color == "#ededed"


def test_label_names_are_unique_case_insensitively(fdb: ForgeDB, world: World, conn: Conn) -> None:
    _label(fdb, world.repo.id, world.owner.id, "Bug")
    with unchanged(conn), pytest.raises(AlreadyExists, match="a label with this name") as refused:
        _label(fdb, world.repo.id, world.owner.id, "bug")
    assert refused.value.constraint == "labels_repository_id_name_lower_key"


def test_the_same_label_name_may_serve_another_repository(fdb: ForgeDB, world: World) -> None:
    here = _label(fdb, world.repo.id, world.owner.id, "bug")
    there = _label(fdb, world.private.id, world.owner.id, "bug")
    assert here.id != there.id


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": "a,b"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"name": "x", "color": "red"}, "color"),
        ({"name": "x", "color": "#12345"}, "color"),
        ({"name": "x", "description": "d" * 101}, "description"),
    ],
    ids=[
        "comma",
        "empty",
        "blank",
        "long",
        "two-lines",
        "colour-word",
        "short-colour",
        "long-description",
    ],
)
def test_a_bad_label_is_invalid_input_naming_the_field(
    fdb: ForgeDB, world: World, conn: Conn, options: dict[str, Any], field: str
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match=field) as refused:
        fdb.issues.labels.create(world.repo.id, actor_id=world.owner.id, **options)
    assert refused.value.field == field


# --- update ------------------------------------------------------------------------------------


@pytest.fixture
def bug(fdb: ForgeDB, world: World) -> Label:
    """Label "Bug" (#ff0000, "broken") of the public repository, on its issue #1."""
    label = _label(fdb, world.repo.id, world.owner.id, "Bug", color="#ff0000", description="broken")
    open_issue(fdb, world.repo, world.owner, labels=["bug"])
    return label


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "defect"}, ("defect", "#ff0000", "broken")),
        ({"color": "00FF00"}, ("Bug", "#00ff00", "broken")),
        ({"description": ""}, ("Bug", "#ff0000", "")),
        ({"name": "b", "color": "#000000", "description": "d"}, ("b", "#000000", "d")),
    ],
    ids=["rename", "recolour", "clear-description", "everything"],
)
def test_update_changes_only_what_it_is_given(
    fdb: ForgeDB, world: World, bug: Label, change: dict[str, Any], expected: tuple[str, ...]
) -> None:
    changed = fdb.issues.labels.update(world.repo.id, bug.id, actor_id=world.owner.id, **change)
    assert (changed.name, changed.color, changed.description) == expected
    assert (changed.id, changed.created_at) == (bug.id, bug.created_at)
    assert fdb.issues.labels.list(world.repo.id) == [changed]


def test_a_renamed_label_shows_its_new_name_on_issues(
    fdb: ForgeDB, world: World, bug: Label
) -> None:
    fdb.issues.labels.update(world.repo.id, bug.id, actor_id=world.owner.id, name="defect")
    assert _names(fdb, world.repo.id, 1) == ["defect"]


def test_renaming_onto_another_labels_name_is_already_exists(
    fdb: ForgeDB, world: World, bug: Label, conn: Conn
) -> None:
    _label(fdb, world.repo.id, world.owner.id, "ui")
    with unchanged(conn), pytest.raises(AlreadyExists):
        fdb.issues.labels.update(world.repo.id, bug.id, actor_id=world.owner.id, name="UI")


def test_a_bad_new_name_is_invalid_input_naming_it(fdb: ForgeDB, world: World, bug: Label) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.labels.update(world.repo.id, bug.id, actor_id=world.owner.id, name="a,b")
    assert refused.value.field == "name"


def test_update_of_an_unknown_label_is_not_found(fdb: ForgeDB, world: World, bug: Label) -> None:
    with pytest.raises(NotFound):
        fdb.issues.labels.update(world.repo.id, bug.id + 100, actor_id=world.owner.id, name="x")


# --- delete ------------------------------------------------------------------------------------


def test_a_deleted_label_leaves_every_issue_it_was_on(
    fdb: ForgeDB, world: World, bug: Label
) -> None:
    assert fdb.issues.labels.delete(world.repo.id, bug.id, actor_id=world.owner.id) is True
    assert fdb.issues.labels.list(world.repo.id) == []
    assert _names(fdb, world.repo.id, 1) == []


def test_deleting_a_deleted_label_changes_nothing(
    fdb: ForgeDB, world: World, bug: Label, conn: Conn
) -> None:
    fdb.issues.labels.delete(world.repo.id, bug.id, actor_id=world.owner.id)
    with unchanged(conn):
        assert fdb.issues.labels.delete(world.repo.id, bug.id, actor_id=world.owner.id) is False


# --- ids of another repository -------------------------------------------------------------------


@pytest.fixture
def private_label(fdb: ForgeDB, world: World) -> Label:
    """A label of the private repository, on its issue #1; the public one has an issue #1 too."""
    open_issue(fdb, world.repo, world.owner)
    label = _label(fdb, world.private.id, world.owner.id, "secret")
    open_issue(fdb, world.private, world.owner, labels=["secret"])
    return label


@pytest.mark.parametrize("actor", ["writer", "owner"])
def test_a_label_is_updated_only_through_its_own_repository(
    fdb: ForgeDB, world: World, private_label: Label, conn: Conn, actor: str
) -> None:
    with unchanged(conn), pytest.raises(NotFound):
        fdb.issues.labels.update(
            world.repo.id, private_label.id, actor_id=getattr(world, actor).id, name="leaked"
        )


@pytest.mark.parametrize("actor", ["writer", "owner"])
def test_a_label_is_deleted_only_through_its_own_repository(
    fdb: ForgeDB, world: World, private_label: Label, conn: Conn, actor: str
) -> None:
    with unchanged(conn):
        deleted = fdb.issues.labels.delete(
            world.repo.id, private_label.id, actor_id=getattr(world, actor).id
        )
    assert deleted is False


def test_a_label_of_another_repository_cannot_be_put_on_an_issue(
    fdb: ForgeDB, world: World, private_label: Label, conn: Conn
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match="labels"):
        fdb.issues.labels.set_on_issue(world.repo.id, 1, actor_id=world.owner.id, add=["secret"])


# --- list --------------------------------------------------------------------------------------


def test_labels_are_listed_by_name_whatever_the_case(fdb: ForgeDB, world: World) -> None:
    for name in ("ui", "Bug", "docs", "API"):
        _label(fdb, world.repo.id, world.owner.id, name)
    names = [label.name for label in fdb.issues.labels.list(world.repo.id)]
    assert names == ["API", "Bug", "docs", "ui"]


@pytest.mark.parametrize("viewer", ["stranger", "anonymous"])
def test_a_private_repositorys_labels_are_hidden_from_those_who_cannot_read_it(
    fdb: ForgeDB, world: World, private_label: Label, viewer: str
) -> None:
    viewer_id = world.stranger.id if viewer == "stranger" else None
    assert fdb.issues.labels.list(world.private.id, viewer_id=viewer_id) == []


def test_a_read_collaborator_sees_a_private_repositorys_labels(
    fdb: ForgeDB, world: World, private_label: Label
) -> None:
    assert fdb.issues.labels.list(world.private.id, viewer_id=world.reader.id) == [private_label]


# --- set_on_issue ------------------------------------------------------------------------------


@pytest.fixture
def abc(fdb: ForgeDB, world: World) -> int:
    """Labels a, b, c in the public repository; its issue #1 carries a."""
    for name in ("a", "b", "c"):
        _label(fdb, world.repo.id, world.owner.id, name)
    return open_issue(fdb, world.repo, world.owner, labels=["a"]).number


def test_set_on_issue_attaches_and_detaches_in_one_call(
    fdb: ForgeDB, world: World, abc: int
) -> None:
    changed = fdb.issues.labels.set_on_issue(
        world.repo.id, abc, actor_id=world.owner.id, add=["B", "c"], remove=["a"]
    )
    assert [label.name for label in changed.labels] == ["b", "c"]
    assert fdb.issues.get(world.repo.id, abc) == changed


def test_attaching_a_label_the_issue_carries_changes_nothing(
    fdb: ForgeDB, world: World, abc: int
) -> None:
    changed = fdb.issues.labels.set_on_issue(world.repo.id, abc, actor_id=world.owner.id, add=["a"])
    assert [label.name for label in changed.labels] == ["a"]


def test_detaching_a_label_the_issue_does_not_carry_changes_nothing(
    fdb: ForgeDB, world: World, abc: int
) -> None:
    changed = fdb.issues.labels.set_on_issue(
        world.repo.id, abc, actor_id=world.owner.id, remove=["b", "nope"]
    )
    assert [label.name for label in changed.labels] == ["a"]


def test_a_label_both_added_and_removed_stays(fdb: ForgeDB, world: World, abc: int) -> None:
    changed = fdb.issues.labels.set_on_issue(
        world.repo.id, abc, actor_id=world.owner.id, add=["a", "b"], remove=["a", "b"]
    )
    assert [label.name for label in changed.labels] == ["a", "b"]


def test_an_unknown_label_refuses_the_whole_change(
    fdb: ForgeDB, world: World, abc: int, conn: Conn
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match="labels"):
        fdb.issues.labels.set_on_issue(
            world.repo.id, abc, actor_id=world.owner.id, add=["b", "nope"], remove=["a"]
        )


def test_an_unknown_label_to_add_is_invalid_input_naming_add(
    fdb: ForgeDB, world: World, abc: int
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.labels.set_on_issue(world.repo.id, abc, actor_id=world.owner.id, add=["nope"])
    assert refused.value.field == "add"


def test_set_on_issue_of_an_unknown_issue_is_not_found(
    fdb: ForgeDB, world: World, abc: int
) -> None:
    with pytest.raises(NotFound, match="#5"):
        fdb.issues.labels.set_on_issue(world.repo.id, 5, actor_id=world.owner.id, add=["a"])


# --- who may write ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    """In the private repository: labels bug and ui; issue #1 carries bug."""

    repo_id: int
    bug: int
    ui: int


@pytest.fixture
def staged(fdb: ForgeDB, world: World) -> Staged:
    bug = _label(fdb, world.private.id, world.owner.id, "bug")
    ui = _label(fdb, world.private.id, world.owner.id, "ui")
    open_issue(fdb, world.private, world.owner, labels=["bug"])
    return Staged(world.private.id, bug.id, ui.id)


# Every write of db.issues.labels, given (fdb, the staged repository, actor id).
_WRITES: dict[str, Callable[[ForgeDB, Staged, int], object]] = {
    "create": lambda fdb, s, a: fdb.issues.labels.create(s.repo_id, actor_id=a, name="new"),
    "update": lambda fdb, s, a: fdb.issues.labels.update(s.repo_id, s.bug, actor_id=a, name="b"),
    "delete": lambda fdb, s, a: fdb.issues.labels.delete(s.repo_id, s.ui, actor_id=a),
    "set_on_issue": lambda fdb, s, a: fdb.issues.labels.set_on_issue(
        s.repo_id, 1, actor_id=a, add=["ui"], remove=["bug"]
    ),
}


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_read_collaborator_is_refused_every_label_write(
    fdb: ForgeDB, world: World, staged: Staged, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(PermissionDenied, match="write role"):
        _WRITES[write](fdb, staged, world.reader.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_stranger_is_told_the_private_repository_does_not_exist(
    fdb: ForgeDB, world: World, staged: Staged, conn: Conn, write: str
) -> None:
    with unchanged(conn), pytest.raises(NotFound, match="not found"):
        _WRITES[write](fdb, staged, world.stranger.id)


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_writer_may_make_every_label_write(
    fdb: ForgeDB, world: World, staged: Staged, write: str
) -> None:
    assert _WRITES[write](fdb, staged, world.writer.id) not in (None, False)
    labels = {
        label.name for label in fdb.issues.labels.list(staged.repo_id, viewer_id=world.writer.id)
    }
    on_issue = _names(fdb, staged.repo_id, 1, viewer_id=world.writer.id)
    assert (labels, on_issue) == {
        "create": ({"bug", "ui", "new"}, ["bug"]),
        "update": ({"b", "ui"}, ["b"]),
        "delete": ({"bug"}, ["bug"]),
        "set_on_issue": ({"bug", "ui"}, ["ui"]),
    }[write]
