"""db.issues.milestones: milestones with their progress, and the milestone of an issue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
import pytest

from forge_db import AlreadyExists, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.issues import Milestone

from .conftest import World, open_issue, unchanged

Conn = psycopg.Connection[Any]


def _milestone(fdb: ForgeDB, repo_id: int, actor_id: int, title: str, **options: Any) -> Milestone:
    return fdb.issues.milestones.create(repo_id, actor_id=actor_id, title=title, **options)


# --- create ------------------------------------------------------------------------------------


def test_a_new_milestone_is_open_and_empty(fdb: ForgeDB, world: World) -> None:
    milestone = _milestone(
        fdb, world.repo.id, world.owner.id, " v1 ", description="first", due_on=date(2031, 5, 1)
    )
    assert (milestone.title, milestone.description, milestone.due_on) == (
        "v1",
        "first",
        date(2031, 5, 1),
    )
    assert (milestone.state, milestone.closed_at) == ("open", None)
    assert (milestone.open_issues, milestone.closed_issues) == (0, 0)
    assert fdb.issues.milestones.list(world.repo.id) == [milestone]


def test_milestone_titles_are_unique_case_insensitively(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    _milestone(fdb, world.repo.id, world.owner.id, "V1")
    with unchanged(conn), pytest.raises(AlreadyExists, match="a milestone with this title"):
        _milestone(fdb, world.repo.id, world.owner.id, "v1")


def test_the_same_milestone_title_may_serve_another_repository(fdb: ForgeDB, world: World) -> None:
    here = _milestone(fdb, world.repo.id, world.owner.id, "v1")
    assert _milestone(fdb, world.private.id, world.owner.id, "v1").id != here.id


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 257}, "title"),
        ({"title": "v", "description": "d" * 65537}, "description"),
        ({"title": "v", "due_on": datetime(2031, 5, 1)}, "due_on"),
        ({"title": "v", "due_on": "2031-05-01"}, "due_on"),
    ],
    ids=["empty", "blank", "long", "long-description", "datetime-due", "text-due"],
)
def test_a_bad_milestone_is_invalid_input_naming_the_field(
    fdb: ForgeDB, world: World, conn: Conn, options: dict[str, Any], field: str
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput) as refused:
        fdb.issues.milestones.create(world.repo.id, actor_id=world.owner.id, **options)
    assert refused.value.field == field


# --- set_state ---------------------------------------------------------------------------------


@pytest.fixture
def v1(fdb: ForgeDB, world: World) -> Milestone:
    return _milestone(fdb, world.repo.id, world.owner.id, "v1")


def test_closing_a_milestone_records_when(fdb: ForgeDB, world: World, v1: Milestone) -> None:
    closed = fdb.issues.milestones.set_state(
        world.repo.id, v1.id, actor_id=world.owner.id, state="closed"
    )
    assert (closed.id, closed.state) == (v1.id, "closed")
    assert closed.closed_at is not None
    assert fdb.issues.milestones.list(world.repo.id, state="closed") == [closed]


def test_closing_a_closed_milestone_keeps_its_close_time(
    fdb: ForgeDB, world: World, v1: Milestone
) -> None:
    first = fdb.issues.milestones.set_state(
        world.repo.id, v1.id, actor_id=world.owner.id, state="closed"
    )
    again = fdb.issues.milestones.set_state(
        world.repo.id, v1.id, actor_id=world.owner.id, state="closed"
    )
    assert again.closed_at == first.closed_at


def test_reopening_a_milestone_clears_its_close_time(
    fdb: ForgeDB, world: World, v1: Milestone
) -> None:
    fdb.issues.milestones.set_state(world.repo.id, v1.id, actor_id=world.owner.id, state="closed")
    reopened = fdb.issues.milestones.set_state(
        world.repo.id, v1.id, actor_id=world.owner.id, state="open"
    )
    assert (reopened.state, reopened.closed_at) == ("open", None)


def test_an_unknown_milestone_state_is_invalid_input(
    fdb: ForgeDB, world: World, v1: Milestone
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.milestones.set_state(
            world.repo.id,
            v1.id,
            actor_id=world.owner.id,
            state="done",  # type: ignore[arg-type]
        )
    assert refused.value.field == "state"


def test_set_state_of_an_unknown_milestone_is_not_found(
    fdb: ForgeDB, world: World, v1: Milestone
) -> None:
    with pytest.raises(NotFound):
        fdb.issues.milestones.set_state(
            world.repo.id, v1.id + 100, actor_id=world.owner.id, state="closed"
        )


# --- list --------------------------------------------------------------------------------------


def test_milestones_are_listed_soonest_due_first_and_undated_last(
    fdb: ForgeDB, world: World
) -> None:
    for title, due in (
        ("later", date(2032, 1, 1)),
        ("undated", None),
        ("sooner", date(2031, 1, 1)),
    ):
        _milestone(fdb, world.repo.id, world.owner.id, title, due_on=due)
    titles = [m.title for m in fdb.issues.milestones.list(world.repo.id)]
    assert titles == ["sooner", "later", "undated"]


def test_milestones_are_listed_by_state(fdb: ForgeDB, world: World, v1: Milestone) -> None:
    v2 = _milestone(fdb, world.repo.id, world.owner.id, "v2")
    fdb.issues.milestones.set_state(world.repo.id, v1.id, actor_id=world.owner.id, state="closed")

    def ids(state: Any) -> list[int]:
        return [m.id for m in fdb.issues.milestones.list(world.repo.id, state=state)]

    assert (ids("open"), ids("closed"), ids("all")) == ([v2.id], [v1.id], [v1.id, v2.id])


def test_a_milestone_shows_its_open_and_closed_issues(
    fdb: ForgeDB, world: World, v1: Milestone
) -> None:
    for _ in range(3):
        open_issue(fdb, world.repo, world.owner, milestone_id=v1.id)
    open_issue(fdb, world.repo, world.owner)
    fdb.issues.close(world.repo.id, 2, actor_id=world.owner.id)
    [progress] = fdb.issues.milestones.list(world.repo.id)
    assert (progress.open_issues, progress.closed_issues) == (2, 1)


# --- set_on_issue ------------------------------------------------------------------------------


def test_an_issue_is_put_in_a_milestone_and_taken_out(
    fdb: ForgeDB, world: World, v1: Milestone
) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    put = fdb.issues.milestones.set_on_issue(
        world.repo.id, issue.number, actor_id=world.owner.id, milestone_id=v1.id
    )
    assert put.milestone_id == v1.id
    assert fdb.issues.get(world.repo.id, issue.number) == put
    out = fdb.issues.milestones.set_on_issue(
        world.repo.id, issue.number, actor_id=world.owner.id, milestone_id=None
    )
    assert out.milestone_id is None
    assert fdb.issues.get(world.repo.id, issue.number).milestone_id is None


def test_moving_an_issue_moves_the_progress(fdb: ForgeDB, world: World, v1: Milestone) -> None:
    v2 = _milestone(fdb, world.repo.id, world.owner.id, "v2")
    issue = open_issue(fdb, world.repo, world.owner, milestone_id=v1.id)
    fdb.issues.milestones.set_on_issue(
        world.repo.id, issue.number, actor_id=world.owner.id, milestone_id=v2.id
    )
    progress = {m.id: m.open_issues for m in fdb.issues.milestones.list(world.repo.id)}
    assert progress == {v1.id: 0, v2.id: 1}


def test_set_on_issue_of_an_unknown_issue_is_not_found(
    fdb: ForgeDB, world: World, v1: Milestone
) -> None:
    with pytest.raises(NotFound, match="#3"):
        fdb.issues.milestones.set_on_issue(
            world.repo.id, 3, actor_id=world.owner.id, milestone_id=v1.id
        )


def test_an_unknown_milestone_is_not_put_on_an_issue(
    fdb: ForgeDB, world: World, v1: Milestone, conn: Conn
) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with unchanged(conn), pytest.raises(NotFound):
        fdb.issues.milestones.set_on_issue(
            world.repo.id, issue.number, actor_id=world.owner.id, milestone_id=v1.id + 100
        )


# --- ids of another repository -------------------------------------------------------------------


@pytest.fixture
def private_milestone(fdb: ForgeDB, world: World) -> Milestone:
    """A milestone of the private repository, with an issue; the public one has an issue #1."""
    open_issue(fdb, world.repo, world.owner)
    milestone = _milestone(fdb, world.private.id, world.owner.id, "secret")
    open_issue(fdb, world.private, world.owner, milestone_id=milestone.id)
    return milestone


@pytest.mark.parametrize("actor", ["writer", "owner"])
@pytest.mark.parametrize("state", ["closed", "open"])
def test_a_milestone_changes_state_only_through_its_own_repository(
    fdb: ForgeDB, world: World, private_milestone: Milestone, conn: Conn, actor: str, state: Any
) -> None:
    with unchanged(conn), pytest.raises(NotFound):
        fdb.issues.milestones.set_state(
            world.repo.id, private_milestone.id, actor_id=getattr(world, actor).id, state=state
        )


@pytest.mark.parametrize("actor", ["writer", "owner"])
def test_a_milestone_of_another_repository_is_not_put_on_an_issue(
    fdb: ForgeDB, world: World, private_milestone: Milestone, conn: Conn, actor: str
) -> None:
    with unchanged(conn), pytest.raises(NotFound):
        fdb.issues.milestones.set_on_issue(
            world.repo.id, 1, actor_id=getattr(world, actor).id, milestone_id=private_milestone.id
        )
    assert fdb.issues.get(world.repo.id, 1).milestone_id is None


@pytest.mark.parametrize("viewer", ["stranger", "anonymous"])
def test_a_private_repositorys_milestones_are_hidden_from_those_who_cannot_read_it(
    fdb: ForgeDB, world: World, private_milestone: Milestone, viewer: str
) -> None:
    viewer_id = world.stranger.id if viewer == "stranger" else None
    assert fdb.issues.milestones.list(world.private.id, viewer_id=viewer_id, state="all") == []


def test_a_read_collaborator_sees_a_private_repositorys_milestones(
    fdb: ForgeDB, world: World, private_milestone: Milestone
) -> None:
    [seen] = fdb.issues.milestones.list(world.private.id, viewer_id=world.reader.id)
    assert (seen.id, seen.open_issues) == (private_milestone.id, 1)


# --- who may write ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    """In the private repository: milestone m and issue #1 outside it."""

    repo_id: int
    milestone: int


@pytest.fixture
def staged(fdb: ForgeDB, world: World) -> Staged:
    milestone = _milestone(fdb, world.private.id, world.owner.id, "m")
    open_issue(fdb, world.private, world.owner)
    return Staged(world.private.id, milestone.id)


# Every write of db.issues.milestones, given (fdb, the staged repository, actor id).
_WRITES: dict[str, Callable[[ForgeDB, Staged, int], object]] = {
    "create": lambda fdb, s, a: fdb.issues.milestones.create(s.repo_id, actor_id=a, title="new"),
    "set_state": lambda fdb, s, a: fdb.issues.milestones.set_state(
        s.repo_id, s.milestone, actor_id=a, state="closed"
    ),
    "set_on_issue": lambda fdb, s, a: fdb.issues.milestones.set_on_issue(
        s.repo_id, 1, actor_id=a, milestone_id=s.milestone
    ),
}


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_read_collaborator_is_refused_every_milestone_write(
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
def test_a_writer_may_make_every_milestone_write(
    fdb: ForgeDB, world: World, staged: Staged, write: str
) -> None:
    _WRITES[write](fdb, staged, world.writer.id)
    milestones = fdb.issues.milestones.list(staged.repo_id, viewer_id=world.writer.id, state="all")
    issue = fdb.issues.get(staged.repo_id, 1, viewer_id=world.writer.id)
    assert ([(m.title, m.state) for m in milestones], issue.milestone_id) == {
        "create": ([("m", "open"), ("new", "open")], None),
        "set_state": ([("m", "closed")], None),
        "set_on_issue": ([("m", "open")], staged.milestone),
    }[write]
