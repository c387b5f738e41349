"""``db.workflows.tools``: the audit of an agent session's tool calls.

Each call is recorded when it starts (``running``) with its arguments, or before it starts
(``pending``: awaiting approval, queued behind another call) and started later by
:meth:`Tools.begin`. It is finished once with its status and output, both as size-capped JSON;
a pending call can only be declined (``cancelled``). The database measures the duration (its own
clock at start and at finish) and its state machine allows only these moves; a pending or
running call past its deadline is timed out by :meth:`Tools.time_out`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from psycopg.types.json import Jsonb

from ..access import guard, readable
from ..errors import Conflict
from ..inputs import Bounded, Cursor, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, Result, Shape, one, read, scalar, write
from .models import ToolExecution, ToolStatus
from .vocabulary import JsonObject, JsonValue, ToolName, Uuid

__all__ = ["Tools"]

Finished = Literal["succeeded", "failed", "cancelled", "timed_out"]
TimeoutSeconds = Annotated[int, Bounded(1, 86_400)]
ExitCode = Annotated[int, Bounded(-(2**31), 2**31 - 1)]
_COLUMNS: Final = (
    "t.id, t.repository_id, t.agent_session_id, t.tool, t.arguments, t.output, t.status, "
    "t.exit_code, t.created_at, t.started_at, t.finished_at, t.deadline_at, t.duration_ms"
)
_OLDEST: Final = Keyset(ToolExecution, "created_at", "id")


def _changed(missing: str, raced: str) -> Shape[ToolExecution]:
    row = one(ToolExecution, missing)

    def convert(result: Result) -> ToolExecution:
        if not result.rows:
            # The check saw it in the state it needs; a concurrent change got there first.
            raise Conflict(raced)
        return row.convert(result)

    return Shape(convert, row.columns)


_SESSION_CHECK: Final = """
    session AS (
        SELECT s.id, s.state FROM agent_sessions s, guard
        WHERE s.repository_id = guard.id AND s.id = %(session_id)s
    ), checked AS (
        SELECT CASE WHEN NOT EXISTS (SELECT FROM session)
                    THEN raise_error('FDN01', 'agent session not found')
                    WHEN (SELECT state FROM session) <> 'active'
                    THEN raise_error('FDC01', 'the agent session has ended')
               END AS refused
    )"""


def _record(status: Literal["pending", "running"]) -> str:
    started = "now()" if status == "running" else "NULL"
    return f"""
        WITH guard AS ({guard("write")}), {_SESSION_CHECK},
        t AS (
            INSERT INTO tool_executions (repository_id, agent_session_id, tool, arguments,
                                         status, started_at, deadline_at)
            SELECT guard.id, %(session_id)s, %(tool)s, %(arguments)s, '{status}', {started},
                   now() + make_interval(secs => %(timeout_seconds)s)
            FROM guard WHERE (SELECT refused FROM checked) IS NULL
            RETURNING *
        )
        SELECT {_COLUMNS} FROM t
    """


class Tools(Namespace[R]):
    """Tool executions of agent sessions."""

    @write
    def start(
        self,
        repository_id: Id,
        session_id: Uuid,
        *,
        actor_id: Id,
        tool: ToolName,
        arguments: JsonObject | None = None,
        timeout_seconds: TimeoutSeconds | None = None,
    ) -> Query[ToolExecution]:
        """Record a tool call starting in an active session (the clock starts now)."""
        return Query(
            _record("running"),
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "session_id": session_id,
                "tool": tool,
                "arguments": Jsonb(arguments or {}),
                "timeout_seconds": timeout_seconds,
            },
            one(ToolExecution, "tool execution not started"),
        )

    @write
    def request(
        self,
        repository_id: Id,
        session_id: Uuid,
        *,
        actor_id: Id,
        tool: ToolName,
        arguments: JsonObject | None = None,
        wait_seconds: TimeoutSeconds | None = None,
    ) -> Query[ToolExecution]:
        """Record a tool call that has not started (``pending``: awaiting approval, say).

        It times out if it has not started within ``wait_seconds``; :meth:`begin` starts it.
        """
        return Query(
            _record("pending"),
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "session_id": session_id,
                "tool": tool,
                "arguments": Jsonb(arguments or {}),
                "timeout_seconds": wait_seconds,
            },
            one(ToolExecution, "tool execution not recorded"),
        )

    @write
    def begin(
        self,
        repository_id: Id,
        execution_id: Uuid,
        *,
        actor_id: Id,
        timeout_seconds: TimeoutSeconds | None = None,
    ) -> Query[ToolExecution]:
        """Start a pending tool call (the clock starts now, its deadline is set anew).

        ``Conflict`` when it is not pending (started, declined, timed out) or its session ended.
        """
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT e.id, e.status, s.state AS session_state
                FROM tool_executions e, guard, agent_sessions s
                WHERE e.repository_id = guard.id AND e.id = %(execution_id)s
                  AND s.repository_id = e.repository_id AND s.id = e.agent_session_id
            ), checked AS (
                SELECT CASE WHEN NOT EXISTS (SELECT FROM target)
                            THEN raise_error('FDN01', 'tool execution not found')
                            WHEN (SELECT status FROM target) <> 'pending'
                            THEN raise_error('FDC01', 'the tool execution is not pending')
                            WHEN (SELECT session_state FROM target) <> 'active'
                            THEN raise_error('FDC01', 'the agent session has ended')
                       END AS refused
            ), t AS (
                UPDATE tool_executions e SET status = 'running', started_at = now(),
                       deadline_at = now() + make_interval(secs => %(timeout_seconds)s)
                FROM target
                WHERE e.repository_id = %(repository_id)s AND e.id = target.id
                  AND e.status = 'pending' AND (SELECT refused FROM checked) IS NULL
                RETURNING e.*
            )
            SELECT {_COLUMNS} FROM t
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "execution_id": execution_id,
                "timeout_seconds": timeout_seconds,
            },
            _changed("tool execution not found", "the tool execution is not pending"),
        )

    @write
    def finish(
        self,
        repository_id: Id,
        execution_id: Uuid,
        *,
        actor_id: Id,
        status: Finished,
        output: JsonValue = None,
        exit_code: ExitCode | None = None,
    ) -> Query[ToolExecution]:
        """Record how a running tool call ended, or decline a pending one (``cancelled``);
        a call finishes once (``Conflict`` after)."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT e.id, e.status FROM tool_executions e, guard
                WHERE e.repository_id = guard.id AND e.id = %(execution_id)s
            ), checked AS (
                SELECT CASE WHEN NOT EXISTS (SELECT FROM target)
                            THEN raise_error('FDN01', 'tool execution not found')
                            WHEN (SELECT status FROM target) = 'pending'
                                 AND %(status)s <> 'cancelled'
                            THEN raise_error('FDC01', 'a pending tool execution can only be cancelled')
                            WHEN (SELECT status FROM target) NOT IN ('pending', 'running')
                            THEN raise_error('FDC01', 'the tool execution has finished already')
                       END AS refused
            ), t AS (
                UPDATE tool_executions e SET status = %(status)s, output = %(output)s,
                       exit_code = %(exit_code)s, finished_at = now()
                FROM target
                WHERE e.repository_id = %(repository_id)s AND e.id = target.id
                  AND e.status = target.status
                  AND (SELECT refused FROM checked) IS NULL
                RETURNING e.*
            )
            SELECT {_COLUMNS} FROM t
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "execution_id": execution_id,
                "status": status,
                "output": None if output is None else Jsonb(output),
                "exit_code": exit_code,
            },
            _changed("tool execution not found", "the tool execution has finished already"),
        )

    @read
    def list(
        self,
        repository_id: Id,
        session_id: Uuid,
        *,
        viewer_id: Id | None = None,
        status: ToolStatus | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[ToolExecution]]:
        """A keyset page of a session's tool calls in the order they were recorded."""
        size = page_size(limit)
        scope = ("workflows.tools", repository_id, str(session_id), status)
        after_time, after_id = _OLDEST.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS} FROM tool_executions t
            WHERE t.repository_id = %(repository_id)s AND t.agent_session_id = %(session_id)s
              AND {readable()}
              AND (%(status)s::text IS NULL OR t.status = %(status)s)
              AND (%(after_id)s::uuid IS NULL
                   OR (t.created_at, t.id) > (%(after_time)s, %(after_id)s))
            ORDER BY t.created_at, t.id
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "session_id": session_id,
                "viewer_id": viewer_id,
                "status": status,
                "after_time": after_time,
                "after_id": after_id,
                "limit": size + 1,
            },
            _OLDEST.page(size, scope),
        )

    @write
    def time_out(self, *, limit: Annotated[int, Bounded(1, 10_000)] = 1000) -> Query[int]:
        """Administrative: mark up to ``limit`` pending or running calls past their deadline
        ``timed_out``; the number marked. For a periodic job."""
        return Query(
            """
            WITH late AS (
                SELECT id FROM tool_executions
                WHERE status IN ('pending', 'running') AND deadline_at <= now()
                ORDER BY deadline_at LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ), t AS (
                UPDATE tool_executions e SET status = 'timed_out', finished_at = now()
                FROM late WHERE e.id = late.id
                RETURNING 1
            )
            SELECT count(*) FROM t
            """,
            {"limit": limit},
            scalar(int),
        )
