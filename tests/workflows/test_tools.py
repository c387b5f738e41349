"""db.workflows.tools: the audit of tool calls, with durations the database measures."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, InvalidInput

from .conftest import World


def test_a_tool_call_is_recorded_finished_once_and_timed_by_the_server(
    fdb: ForgeDB, world: World
) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    started = fdb.workflows.start_tool_execution(
        world.repo.id, session.id, actor_id=world.writer.id, tool="shell",
        arguments={"cmd": "make test"},
    )  # fmt: skip
    assert (started.status, started.duration_ms, started.finished_at) == ("running", None, None)
    done = fdb.workflows.finish_tool_execution(
        world.repo.id, started.id, actor_id=world.writer.id, status="failed",
        output={"stderr": "boom"}, exit_code=2,
    )  # fmt: skip
    assert (done.status, done.output, done.exit_code) == ("failed", {"stderr": "boom"}, 2)
    assert done.duration_ms is not None
    assert done.finished_at is not None
    assert done.started_at is not None
    assert done.duration_ms == round((done.finished_at - done.started_at).total_seconds() * 1000)
    with pytest.raises(Conflict):
        fdb.workflows.finish_tool_execution(
            world.repo.id, started.id, actor_id=world.writer.id, status="succeeded"
        )
    listed = fdb.workflows.list_tool_executions(world.repo.id, session.id).items
    assert [t.id for t in listed] == [started.id]


def test_output_and_arguments_are_size_capped_json(fdb: ForgeDB, world: World) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.start_tool_execution(
            world.repo.id, session.id, actor_id=world.writer.id, tool="t",
            arguments={"x": "y" * 1_100_000},
        )  # fmt: skip
    assert refused.value.field == "arguments"
    started = fdb.workflows.start_tool_execution(
        world.repo.id, session.id, actor_id=world.writer.id, tool="t"
    )
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.finish_tool_execution(
            world.repo.id, started.id, actor_id=world.writer.id, status="succeeded",
            output=[object()],
        )  # fmt: skip
    assert refused.value.field == "output"


def test_a_call_past_its_deadline_times_out(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    slow = fdb.workflows.start_tool_execution(
        world.repo.id, session.id, actor_id=world.writer.id, tool="t", timeout_seconds=60
    )
    conn.execute(
        "UPDATE tool_executions SET deadline_at = started_at + interval '1 microsecond' "
        "WHERE id = %s",
        (slow.id,),
    )
    assert fdb.workflows.tools.time_out() == 1
    listed = fdb.workflows.list_tool_executions(world.repo.id, session.id, status="timed_out")
    assert [t.id for t in listed.items] == [slow.id]


def test_an_ended_session_takes_no_tool_call(fdb: ForgeDB, world: World) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    fdb.workflows.end_agent_session(
        world.repo.id, session.id, actor_id=world.writer.id, state="completed"
    )
    with pytest.raises(Conflict):
        fdb.workflows.start_tool_execution(
            world.repo.id, session.id, actor_id=world.writer.id, tool="t"
        )


def test_a_pending_call_has_no_start_until_it_begins(fdb: ForgeDB, world: World) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    asked = fdb.workflows.request_tool_execution(
        world.repo.id, session.id, actor_id=world.writer.id, tool="shell",
        arguments={"cmd": "rm -rf build"}, wait_seconds=600,
    )  # fmt: skip
    assert (asked.status, asked.started_at, asked.finished_at) == ("pending", None, None)
    assert asked.deadline_at is not None
    with pytest.raises(Conflict):
        fdb.workflows.finish_tool_execution(
            world.repo.id, asked.id, actor_id=world.writer.id, status="succeeded"
        )
    begun = fdb.workflows.begin_tool_execution(
        world.repo.id, asked.id, actor_id=world.writer.id, timeout_seconds=60
    )
    assert begun.status == "running"
    assert begun.started_at is not None
    assert begun.deadline_at is not None
    assert begun.started_at >= asked.created_at
    with pytest.raises(Conflict):
        fdb.workflows.begin_tool_execution(world.repo.id, asked.id, actor_id=world.writer.id)
    done = fdb.workflows.finish_tool_execution(
        world.repo.id, asked.id, actor_id=world.writer.id, status="succeeded"
    )
    assert done.duration_ms is not None


def test_a_declined_pending_call_is_cancelled_without_a_duration(
    fdb: ForgeDB, world: World
) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    asked = fdb.workflows.tools.request(
        world.repo.id, session.id, actor_id=world.writer.id, tool="t"
    )
    declined = fdb.workflows.finish_tool_execution(
        world.repo.id, asked.id, actor_id=world.writer.id, status="cancelled"
    )
    assert (declined.status, declined.started_at, declined.duration_ms) == ("cancelled", None, None)
    with pytest.raises(Conflict):
        fdb.workflows.begin_tool_execution(world.repo.id, asked.id, actor_id=world.writer.id)


def test_a_pending_call_past_its_wait_times_out_and_cannot_begin(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    asked = fdb.workflows.tools.request(
        world.repo.id, session.id, actor_id=world.writer.id, tool="t", wait_seconds=60
    )
    conn.execute(
        "UPDATE tool_executions SET deadline_at = now() - interval '1 second' WHERE id = %s",
        (asked.id,),
    )
    assert fdb.workflows.tools.time_out() == 1
    with pytest.raises(Conflict):
        fdb.workflows.begin_tool_execution(world.repo.id, asked.id, actor_id=world.writer.id)
    listed = fdb.workflows.list_tool_executions(world.repo.id, session.id, status="timed_out")
    assert [(t.id, t.started_at) for t in listed.items] == [(asked.id, None)]


def test_a_pending_call_cannot_begin_once_its_session_ended(fdb: ForgeDB, world: World) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    asked = fdb.workflows.tools.request(
        world.repo.id, session.id, actor_id=world.writer.id, tool="t"
    )
    fdb.workflows.end_agent_session(
        world.repo.id, session.id, actor_id=world.writer.id, state="completed"
    )
    with pytest.raises(Conflict):
        fdb.workflows.begin_tool_execution(world.repo.id, asked.id, actor_id=world.writer.id)


def test_a_pending_and_a_running_call_list_in_the_order_recorded(
    fdb: ForgeDB, world: World
) -> None:
    session = fdb.workflows.start_agent_session(world.repo.id, actor_id=world.writer.id, agent="a")
    first = fdb.workflows.tools.request(
        world.repo.id, session.id, actor_id=world.writer.id, tool="t"
    )
    second = fdb.workflows.start_tool_execution(
        world.repo.id, session.id, actor_id=world.writer.id, tool="t"
    )
    fdb.workflows.begin_tool_execution(world.repo.id, first.id, actor_id=world.writer.id)
    page = fdb.workflows.list_tool_executions(world.repo.id, session.id, limit=1)
    rest = fdb.workflows.list_tool_executions(
        world.repo.id, session.id, limit=1, cursor=page.next_cursor
    )
    assert [t.id for t in page.items + rest.items] == [first.id, second.id]
