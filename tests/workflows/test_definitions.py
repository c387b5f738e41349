"""db.workflows.definitions: validated on save, replaced by name, enabled and listed."""

from __future__ import annotations

from typing import Any

import pytest

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied

from .conftest import DAG, World


def _save(fdb: ForgeDB, world: World, definition: dict[str, Any], **options: Any) -> Any:
    return fdb.workflows.save_definition(
        world.repo.id, actor_id=world.writer.id, path=".forge/ci.yml", definition=definition,
        **options,
    )  # fmt: skip


def test_a_definition_is_stored_with_its_plan(fdb: ForgeDB, world: World) -> None:
    saved = fdb.workflows.save_definition(
        world.repo.id, actor_id=world.writer.id, path=".forge/ci.yml", commit_id="a" * 40,
        definition={"name": "CI", "on": ["push"], "steps": DAG},
    )  # fmt: skip
    assert (saved.name, saved.source_commit_id, saved.enabled) == ("CI", "a" * 40, True)
    assert saved.definition["steps"][3]["depends_on"] == [1, 2]
    got = fdb.workflows.get_definition(world.repo.id, saved.id, viewer_id=world.reader.id)
    assert got == saved


@pytest.mark.parametrize(
    ("definition", "where"),
    [
        ({"name": "x", "steps": []}, "steps"),
        ({"name": "x", "steps": [{"name": "a", "needs": ["b"]}, {"name": "b"}]}, "needs"),
        ({"name": "x", "steps": [{"name": "a"}, {"name": "A"}]}, "two steps"),
        ({"name": "x", "steps": [{"name": "a", "runs_on": ["no spaces"]}]}, "runs_on"),
        ({"name": "x", "steps": [{"name": "a", "max_attempts": 0}]}, "max_attempts"),
        ({"name": "x", "on": ["cron"], "steps": [{"name": "a"}]}, "on"),
        ({"name": "x", "steps": [{"name": "a", "bogus": 1}]}, "bogus"),
        ({"steps": [{"name": "a"}]}, "name"),
    ],
)
def test_a_malformed_definition_is_refused_naming_where(
    fdb: ForgeDB, world: World, definition: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _save(fdb, world, definition)
    assert refused.value.field == "definition"
    assert where in str(refused.value)
    assert fdb.workflows.list_definitions(world.repo.id).items == []


def test_saving_a_name_again_replaces_it(fdb: ForgeDB, world: World) -> None:
    first = _save(fdb, world, {"name": "ci", "steps": [{"name": "a"}]})
    second = _save(fdb, world, {"name": "CI", "steps": [{"name": "b"}]})
    assert second.id == first.id
    assert [d.name for d in fdb.workflows.list_definitions(world.repo.id).items] == ["CI"]


def test_enable_disable_and_list(fdb: ForgeDB, world: World) -> None:
    a = _save(fdb, world, {"name": "a", "steps": [{"name": "s"}]})
    _save(fdb, world, {"name": "b", "steps": [{"name": "s"}]})
    off = fdb.workflows.set_enabled(world.repo.id, a.id, actor_id=world.writer.id, enabled=False)
    assert off.enabled is False
    listed = fdb.workflows.list_definitions(world.repo.id, enabled=True).items
    assert [d.name for d in listed] == ["b"]


def test_readers_cannot_save_and_strangers_cannot_see(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(PermissionDenied):
        fdb.workflows.save_definition(
            world.private.id,
            actor_id=world.reader.id,
            path="x",
            definition={"name": "x", "steps": [{"name": "s"}]},
        )
    saved = fdb.workflows.save_definition(
        world.private.id,
        actor_id=world.owner.id,
        path="x",
        definition={"name": "x", "steps": [{"name": "s"}]},
    )
    with pytest.raises(NotFound):
        fdb.workflows.get_definition(world.private.id, saved.id, viewer_id=world.stranger.id)
    with pytest.raises(NotFound):
        fdb.workflows.get_definition(world.repo.id, saved.id, viewer_id=world.reader.id)
