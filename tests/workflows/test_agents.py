"""db.workflows.agents: sessions, their state machine, lineage both ways, short ids."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound

from .conftest import World


def _start(fdb: ForgeDB, world: World, **options: Any) -> Any:
    return fdb.workflows.start_agent_session(
        world.repo.id, actor_id=world.writer.id, agent="coder", **options
    )


def test_lineage_goes_both_ways(fdb: ForgeDB, world: World) -> None:
    root = _start(fdb, world, goal="fix the build")
    child = _start(fdb, world, parent_session_id=root.id)
    grandchild = _start(fdb, world, parent_session_id=child.id)
    other = _start(fdb, world, parent_session_id=root.id)
    up = fdb.workflows.agent_lineage(world.repo.id, grandchild.id)
    assert [(n.id, n.depth) for n in up] == [(root.id, -2), (child.id, -1), (grandchild.id, 0)]
    down = fdb.workflows.agent_lineage(world.repo.id, root.id)
    assert {(n.id, n.depth) for n in down} == {
        (root.id, 0), (child.id, 1), (other.id, 1), (grandchild.id, 2)
    }  # fmt: skip


def test_a_parent_must_be_of_the_same_repository(fdb: ForgeDB, world: World) -> None:
    elsewhere = fdb.workflows.start_agent_session(
        world.private.id, actor_id=world.owner.id, agent="coder"
    )
    with pytest.raises(NotFound):
        _start(fdb, world, parent_session_id=elsewhere.id)


def test_cancelling_a_session_cancels_its_active_descendants(fdb: ForgeDB, world: World) -> None:
    root = _start(fdb, world)
    child = _start(fdb, world, parent_session_id=root.id)
    done = _start(fdb, world, parent_session_id=child.id)
    leaf = _start(fdb, world, parent_session_id=child.id)
    fdb.workflows.end_agent_session(
        world.repo.id, done.id, actor_id=world.writer.id, state="completed"
    )
    ended = fdb.workflows.end_agent_session(
        world.repo.id, root.id, actor_id=world.writer.id, state="cancelled", summary="stop"
    )
    assert (ended.state, ended.summary) == ("cancelled", "stop")
    states = {
        s.id: s.state
        for s in (fdb.workflows.agents.get(world.repo.id, x.id) for x in (child, done, leaf))
    }
    assert states == {child.id: "cancelled", done.id: "completed", leaf.id: "cancelled"}
    with pytest.raises(Conflict):
        fdb.workflows.end_agent_session(
            world.repo.id, root.id, actor_id=world.writer.id, state="completed"
        )


def test_a_session_resolves_from_its_short_id_which_grows_when_ambiguous(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    first = _start(fdb, world)
    assert len(first.short_id) == 8
    assert fdb.workflows.resolve_agent_session(world.repo.id, first.short_id).id == first.id
    # A neighbour sharing the first ten digits: both short ids grow to eleven.
    twin = str(first.id).replace("-", "")
    twin = twin[:10] + ("0" if twin[10] != "0" else "1") + twin[11:]
    conn.execute(
        "INSERT INTO agent_sessions (id, repository_id, agent) VALUES (%s::uuid, %s, 'twin')",
        (twin, world.repo.id),
    )
    again = fdb.workflows.agents.get(world.repo.id, first.id)
    assert again.short_id == twin[:10] + str(first.id).replace("-", "")[10]
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.resolve_agent_session(world.repo.id, first.short_id)
    assert refused.value.field == "prefix"
    assert fdb.workflows.resolve_agent_session(world.repo.id, again.short_id).id == first.id
    with pytest.raises(NotFound):
        fdb.workflows.resolve_agent_session(world.repo.id, "ffffffff")
    with pytest.raises(NotFound):
        fdb.workflows.resolve_agent_session(world.private.id, again.short_id)


def test_a_private_session_is_invisible_to_strangers(fdb: ForgeDB, world: World) -> None:
    hidden = fdb.workflows.start_agent_session(
        world.private.id, actor_id=world.owner.id, agent="coder"
    )
    for call in (
        lambda: fdb.workflows.agents.get(world.private.id, hidden.id, viewer_id=world.stranger.id),
        lambda: fdb.workflows.resolve_agent_session(
            world.private.id, hidden.short_id, viewer_id=world.stranger.id
        ),
        lambda: fdb.workflows.agent_lineage(
            world.private.id, hidden.id, viewer_id=world.stranger.id
        ),
    ):
        with pytest.raises(NotFound):
            call()
