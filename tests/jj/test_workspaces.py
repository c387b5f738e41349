"""db.jj.workspaces: lifecycle enforced by the database, audit trail, short ids, staleness."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from forge_db import AlreadyExists, AmbiguousPrefix, Conflict, ForgeDB, NotFound, PermissionDenied
from forge_db.jj import Workspace, WorkspaceState

from .conftest import World, operation

Conn = psycopg.Connection[Any]


def _workspace(fdb: ForgeDB, world: World, name: str = "default", **options: Any) -> Workspace:
    return fdb.jj.create_workspace(world.repo.id, actor_id=world.writer.id, name=name, **options)


def test_a_new_workspace_is_provisioning_with_a_short_id(fdb: ForgeDB, world: World) -> None:
    agent = uuid.uuid4()
    ws = _workspace(fdb, world, agent_id=agent, host="box", path="/work/default")
    assert (ws.state, ws.user_id, ws.agent_id, ws.host, ws.path) == (
        "provisioning",
        world.writer.id,
        agent,
        "box",
        "/work/default",
    )
    assert ws.short_id == str(ws.id)[:8]
    assert fdb.jj.get_workspace(world.repo.id, ws.id) == ws
    assert fdb.jj.workspaces.resolve(world.repo.id, ws.short_id) == ws


def test_workspace_names_are_unique_per_repository(fdb: ForgeDB, world: World) -> None:
    _workspace(fdb, world)
    with pytest.raises(AlreadyExists, match="a workspace with this name"):
        _workspace(fdb, world)


def test_the_lifecycle_moves_and_the_audit_trail_records_each_move(
    fdb: ForgeDB, world: World
) -> None:
    ws = _workspace(fdb, world, agent_id=uuid.uuid4(), reason="spawned for issue 7")
    moves: list[tuple[WorkspaceState, str]] = [
        ("active", "ready"),
        ("stale", "behind"),
        ("active", "updated"),
        ("archived", "done"),
    ]
    for state, reason in moves:
        moved = fdb.jj.transition_workspace(
            world.repo.id, ws.id, actor_id=world.owner.id, state=state, reason=reason
        )
        assert moved.state == state
    trail = fdb.jj.workspace_history(world.repo.id, ws.id).items
    assert [(t.from_state, t.to_state, t.reason) for t in trail] == [
        (None, "provisioning", "spawned for issue 7"),
        ("provisioning", "active", "ready"),
        ("active", "stale", "behind"),
        ("stale", "active", "updated"),
        ("active", "archived", "done"),
    ]
    assert [t.actor_id for t in trail] == [world.writer.id] + [world.owner.id] * 4
    assert {t.agent_id for t in trail} == {ws.agent_id}


@pytest.mark.parametrize(
    ("path", "state"),
    [([], "stale"), (["active", "archived"], "active"), (["archived"], "provisioning")],
)
def test_an_illegal_transition_is_refused(
    fdb: ForgeDB, world: World, path: list[WorkspaceState], state: WorkspaceState
) -> None:
    ws = _workspace(fdb, world)
    for step in path:
        fdb.jj.transition_workspace(world.repo.id, ws.id, actor_id=world.writer.id, state=step)
    with pytest.raises(Conflict, match="state cannot change"):
        fdb.jj.transition_workspace(world.repo.id, ws.id, actor_id=world.writer.id, state=state)
    trail = fdb.jj.workspace_history(world.repo.id, ws.id).items
    assert len(trail) == 1 + len(path)  # the refused move left no trace


def test_the_database_refuses_an_illegal_transition_and_audits_a_direct_one(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    ws = _workspace(fdb, world)
    with pytest.raises(psycopg.Error, match="cannot change from") as refused:
        conn.execute("UPDATE jj_workspaces SET state = 'stale' WHERE id = %s", (ws.id,))
    assert refused.value.sqlstate == "FDC01"
    conn.execute(
        "UPDATE jj_workspaces SET state = 'active', transition_reason = 'by hand' WHERE id = %s",
        (ws.id,),
    )
    trail = fdb.jj.workspace_history(world.repo.id, ws.id).items
    assert [(t.to_state, t.reason) for t in trail][-1] == ("active", "by hand")
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("UPDATE jj_workspace_transitions SET reason = 'rewritten'")
    assert refused.value.sqlstate == "FDC01"


def test_a_sync_records_the_operation_and_makes_a_stale_workspace_active(
    fdb: ForgeDB, world: World
) -> None:
    op = operation()
    fdb.jj.record_operations(world.repo.id, [op], actor_id=world.writer.id)
    ws = _workspace(fdb, world)
    for state in ("active", "stale"):
        fdb.jj.transition_workspace(world.repo.id, ws.id, actor_id=world.writer.id, state=state)
    synced = fdb.jj.workspaces.sync(
        world.repo.id,
        ws.id,
        actor_id=world.writer.id,
        operation_id=op.operation_id,
        working_copy_commit_id="a" * 40,
    )
    assert (synced.state, synced.last_operation_id) == ("active", op.operation_id)
    assert synced.last_synced_at is not None
    assert fdb.jj.workspace_history(world.repo.id, ws.id).items[-1].reason == "synced"
    with pytest.raises(
        NotFound, match=r"jj_operations \(repository_id, last_operation_id\)=.* does not exist"
    ):
        fdb.jj.workspaces.sync(
            world.repo.id,
            ws.id,
            actor_id=world.writer.id,
            operation_id="f" * 128,
            working_copy_commit_id="a" * 40,
        )


def test_find_stale_finds_live_workspaces_not_synced_for_a_while(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    old, recent, archived = (_workspace(fdb, world, n) for n in ("old", "recent", "gone"))
    fdb.jj.transition_workspace(
        world.repo.id, archived.id, actor_id=world.writer.id, state="archived"
    )
    conn.execute(
        "UPDATE jj_workspaces SET last_synced_at = now() - interval '2 hours', "
        "created_at = now() - interval '3 hours' WHERE id = ANY (%s)",
        ([old.id, archived.id],),
    )
    stale = fdb.jj.find_stale_workspaces(world.repo.id, older_than=timedelta(hours=1)).items
    assert [w.id for w in stale] == [old.id]
    everything = fdb.jj.find_stale_workspaces(world.repo.id, older_than=timedelta(microseconds=1))
    assert {w.id for w in everything.items} == {old.id, recent.id}


def test_short_ids_grow_to_stay_unique_and_prefixes_resolve(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    ids = [
        uuid.UUID("01900000-0000-7000-8000-000000000001"),
        uuid.UUID("01900000-1000-7000-8000-000000000002"),
        uuid.UUID("01900001-0000-7000-8000-000000000003"),
    ]
    for n, workspace_id in enumerate(ids):
        conn.execute(
            "INSERT INTO jj_workspaces (id, repository_id, user_id, name) VALUES (%s, %s, %s, %s)",
            (workspace_id, world.repo.id, world.owner.id, f"w{n}"),
        )
    shown = {w.id: w.short_id for w in fdb.jj.list_workspaces(world.repo.id).items}
    assert shown == {ids[0]: "01900000-0", ids[1]: "01900000-1", ids[2]: "01900001"}
    assert fdb.jj.workspaces.resolve(world.repo.id, "019000001").id == ids[1]
    assert fdb.jj.workspaces.resolve(world.repo.id, "01900001").id == ids[2]
    with pytest.raises(AmbiguousPrefix) as refused:
        fdb.jj.workspaces.resolve(world.repo.id, "01900000")
    assert refused.value.candidates == [str(ids[0]), str(ids[1])]
    with pytest.raises(NotFound):
        fdb.jj.workspaces.resolve(world.repo.id, "0191")


def test_agent_ids_resolve_by_prefix(fdb: ForgeDB, world: World) -> None:
    agent = uuid.UUID("01912345-6789-7abc-8def-0123456789ab")
    ws = _workspace(fdb, world, agent_id=agent)
    assert fdb.jj.workspaces.resolve_agent(world.repo.id, "01912345").id == ws.id
    with pytest.raises(NotFound):
        fdb.jj.workspaces.resolve_agent(world.repo.id, "01912346")


def test_workspaces_of_a_private_repository_stay_private(fdb: ForgeDB, world: World) -> None:
    ws = fdb.jj.create_workspace(world.private.id, actor_id=world.owner.id, name="hidden")
    for viewer in (world.stranger.id, None):
        with pytest.raises(NotFound):
            fdb.jj.get_workspace(world.private.id, ws.id, viewer_id=viewer)
        assert fdb.jj.list_workspaces(world.private.id, viewer_id=viewer).items == []
        assert fdb.jj.workspace_history(world.private.id, ws.id, viewer_id=viewer).items == []
    with pytest.raises(NotFound):
        fdb.jj.get_workspace(world.repo.id, ws.id, viewer_id=world.owner.id)
    with pytest.raises(NotFound):
        fdb.jj.transition_workspace(
            world.private.id, ws.id, actor_id=world.stranger.id, state="active"
        )
    with pytest.raises(PermissionDenied):
        fdb.jj.transition_workspace(
            world.private.id, ws.id, actor_id=world.reader.id, state="active"
        )
