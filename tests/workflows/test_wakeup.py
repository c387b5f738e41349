"""forge_db.workflows.wakeup: idle runners wake on new work, through both APIs."""

from __future__ import annotations

import threading

import pytest

from forge_db import AsyncForgeDB, ForgeDB
from forge_db.workflows.wakeup import listening, listening_async

from .conftest import DAG, World, claim, finish, runner


def test_a_new_run_wakes_a_listening_runner(db: ForgeDB, world: World) -> None:
    woke: list[bool] = []
    ready = threading.Event()

    def idle() -> None:
        with listening(db) as waiter:
            ready.set()
            woke.append(waiter.wait(timeout=60))

    thread = threading.Thread(target=idle)
    thread.start()
    ready.wait()
    db.workflows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
    thread.join()
    assert woke == [True]


def test_only_work_that_became_claimable_wakes_runners(db: ForgeDB, world: World) -> None:
    db.workflows.start_run(
        world.repo.id, actor_id=world.owner.id, steps=[{"name": "a"}, {"name": "b", "needs": ["a"]}]
    )
    r = runner(db)
    with listening(db) as waiter:
        first = claim(db, r)
        assert first is not None
        assert waiter.wait(timeout=0.05) is False  # a claim announces nothing
        finish(db, r, first)  # b became claimable
        assert waiter.wait(timeout=60) is True
        second = claim(db, r)
        assert second is not None
        finish(db, r, second)  # the last step: nothing new to take
        assert waiter.wait(timeout=0.05) is False


@pytest.mark.anyio
async def test_the_async_waiter_wakes_on_a_new_run(
    adb: AsyncForgeDB, db: ForgeDB, world: World
) -> None:
    async with listening_async(adb) as waiter:
        await adb.workflows.start_run(world.repo.id, actor_id=world.owner.id, steps=DAG)
        assert await waiter.wait(timeout=60) is True
        assert await waiter.wait(timeout=0.05) is False
