"""db.workflows.runs: starting runs idempotently, reading, listing, cancelling, trees, time-outs."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from support import make_repository

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied

from .conftest import DAG, World, claim, finish, runner


def test_a_run_of_a_definition_has_its_steps_and_graph(fdb: ForgeDB, world: World) -> None:
    flows = fdb.workflows
    d = flows.save_definition(
        world.repo.id, actor_id=world.writer.id, path="ci.yml",
        definition={"name": "ci", "runs_on": ["linux"], "timeout_seconds": 60, "steps": DAG},
    )  # fmt: skip
    started = flows.start_run(world.repo.id, actor_id=world.writer.id, definition_id=d.id)
    assert (started.created, started.state, started.steps_total) == (True, "queued", 6)
    run = flows.get_run(world.repo.id, started.id)
    assert [s.name for s in run.steps] == [s["name"] for s in DAG]
    assert [s.depends_on for s in run.steps] == [[], [0], [0], [1, 2], [1], [3, 4]]
    assert {tuple(s.labels) for s in run.steps} == {("linux",)}
    assert run.deadline_at is not None
    assert run.definition_id == d.id


def test_a_retried_start_with_its_key_returns_the_first_run(fdb: ForgeDB, world: World) -> None:
    first = fdb.workflows.start_run(
        world.repo.id, actor_id=world.writer.id, steps=DAG, idempotency_key="k"
    )
    again = fdb.workflows.start_run(
        world.repo.id, actor_id=world.writer.id, steps=[{"name": "other"}], idempotency_key="k"
    )
    assert (again.id, again.created, again.steps_total) == (first.id, False, 6)


def test_a_disabled_definition_starts_nothing(fdb: ForgeDB, world: World) -> None:
    d = fdb.workflows.save_definition(
        world.repo.id, actor_id=world.writer.id, path="x.yml",
        definition={"name": "x", "steps": [{"name": "s"}]},
    )  # fmt: skip
    fdb.workflows.set_enabled(world.repo.id, d.id, actor_id=world.writer.id, enabled=False)
    with pytest.raises(Conflict):
        fdb.workflows.start_run(world.repo.id, actor_id=world.writer.id, definition_id=d.id)


def test_definition_or_steps_but_not_both(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.start_run(world.repo.id, actor_id=world.writer.id)
    assert refused.value.field == "steps"
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.start_run(
            world.repo.id, actor_id=world.writer.id, steps=[{"name": "a", "needs": ["b"]}]
        )
    assert refused.value.field == "steps"


def test_a_reader_cannot_start_and_a_stranger_cannot_see(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(PermissionDenied):
        fdb.workflows.start_run(world.private.id, actor_id=world.reader.id, steps=DAG)
    with pytest.raises(NotFound):
        fdb.workflows.start_run(world.private.id, actor_id=world.stranger.id, steps=DAG)
    run = fdb.workflows.start_run(world.private.id, actor_id=world.owner.id, steps=DAG)
    with pytest.raises(NotFound):
        fdb.workflows.get_run(world.private.id, run.id, viewer_id=world.stranger.id)
    assert fdb.workflows.list_runs(world.private.id, viewer_id=world.stranger.id).items == []
    assert fdb.workflows.get_run(world.private.id, run.id, viewer_id=world.reader.id).id == run.id


def test_a_parent_must_be_a_run_the_actor_can_write(fdb: ForgeDB, world: World) -> None:
    hidden = fdb.workflows.start_run(world.private.id, actor_id=world.owner.id, steps=DAG)
    own = make_repository(fdb, world.stranger)
    with pytest.raises(NotFound):
        fdb.workflows.start_run(
            own.id, actor_id=world.stranger.id, steps=DAG, parent_run_id=hidden.id
        )
    child = fdb.workflows.start_run(
        world.repo.id, actor_id=world.writer.id, steps=DAG, parent_run_id=hidden.id
    )
    # The public child does not name its private parent to those who cannot read it.
    shown = fdb.workflows.get_run(world.repo.id, child.id, viewer_id=world.stranger.id)
    assert shown.parent_run_id is None
    assert fdb.workflows.get_run(world.repo.id, child.id, viewer_id=world.reader.id).parent_run_id


def test_cancel_reaches_three_generations_across_repositories(fdb: ForgeDB, world: World) -> None:
    flows = fdb.workflows
    root = flows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
    child = flows.start_run(
        world.private.id, actor_id=world.owner.id, steps=DAG, parent_run_id=root.id
    )
    grandchild = flows.start_run(
        world.repo.id, actor_id=world.owner.id, steps=DAG, parent_run_id=child.id
    )
    r = runner(fdb, capacity=5)
    held = flows.runners.claim_many(r.runner.id, runner_token=r.token, limit=5)
    assert {s.run_id for s in held} == {root.id, child.id, grandchild.id}
    done = flows.cancel_run(world.repo.id, root.id, actor_id=world.writer.id, reason="stop")
    assert done == type(done)(runs=3, steps=18)
    for repo, run in ((world.repo, root), (world.private, child), (world.repo, grandchild)):
        got = flows.get_run(repo.id, run.id, viewer_id=world.owner.id)
        assert got.state == "cancelled"
        assert {s.state for s in got.steps} == {"cancelled"}
    for step in held:
        with pytest.raises(Conflict):
            finish(fdb, r, step)
    assert claim(fdb, r) is None
    again = flows.cancel_run(world.repo.id, root.id, actor_id=world.writer.id)
    assert (again.runs, again.steps) == (0, 0)


def test_the_tree_shows_ancestors_and_descendants_the_viewer_may_read(
    fdb: ForgeDB, world: World
) -> None:
    flows = fdb.workflows
    root = flows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
    hidden = flows.start_run(
        world.private.id, actor_id=world.owner.id, steps=DAG, parent_run_id=root.id
    )
    leaf = flows.start_run(
        world.repo.id, actor_id=world.owner.id, steps=DAG, parent_run_id=hidden.id
    )
    sibling = flows.start_run(
        world.repo.id, actor_id=world.owner.id, steps=DAG, parent_run_id=root.id
    )
    full = flows.run_tree(world.repo.id, leaf.id, viewer_id=world.owner.id)
    assert [(n.id, n.depth) for n in full] == [(root.id, -2), (hidden.id, -1), (leaf.id, 0)]
    down = flows.run_tree(world.repo.id, root.id, viewer_id=world.owner.id)
    assert {(n.id, n.depth) for n in down} == {
        (root.id, 0), (hidden.id, 1), (sibling.id, 1), (leaf.id, 2)
    }  # fmt: skip
    seen = flows.run_tree(world.repo.id, leaf.id, viewer_id=world.stranger.id)
    assert [(n.id, n.parent_run_id) for n in seen] == [(root.id, None), (leaf.id, None)]
    with pytest.raises(NotFound):
        flows.run_tree(world.private.id, hidden.id, viewer_id=world.stranger.id)


def test_runs_past_their_deadline_time_out_with_their_steps(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    late = fdb.workflows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
    fresh = fdb.workflows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
    conn.execute(
        "UPDATE workflow_runs SET deadline_at = created_at + interval '1 microsecond' "
        "WHERE id = %s",
        (late.id,),
    )
    assert fdb.workflows.runs.time_out() == 1
    got = fdb.workflows.get_run(world.repo.id, late.id)
    assert (got.state, {s.state for s in got.steps}) == ("timed_out", {"cancelled"})
    assert fdb.workflows.get_run(world.repo.id, fresh.id).state == "queued"


def test_list_filters_by_state_newest_first(fdb: ForgeDB, world: World) -> None:
    a = fdb.workflows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
    b = fdb.workflows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
    fdb.workflows.cancel_run(world.repo.id, a.id, actor_id=world.owner.id)
    assert [r.id for r in fdb.workflows.list_runs(world.repo.id).items] == [b.id, a.id]
    assert [r.id for r in fdb.workflows.list_runs(world.repo.id, state="cancelled").items] == [a.id]
