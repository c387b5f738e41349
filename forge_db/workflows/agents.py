"""``db.workflows.agents``: agent sessions, their genealogy, and their short ids.

A session works in a repository for an account, inside a run and a workspace when it has them,
and may be spawned by a parent session of the same repository. Sessions go from ``active`` to
``completed``, ``failed`` or ``cancelled`` (a trigger keeps the machine); cancelling one cancels
its active descendants. A session is named by the shortest prefix of its id, at least 8 hex
digits, that no other session of the repository shares.
"""

from __future__ import annotations

import builtins
import uuid
from typing import Annotated, Final, Literal

from ..access import guard, readable
from ..errors import InvalidInput, NotFound, register_constraint_messages
from ..inputs import Body, Cursor, Id, Limit, Text
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, Result, Shape, many, one, read, write
from .models import AgentSession, AgentSessionNode, SessionState
from .sql import MAX_DEPTH
from .vocabulary import AgentName, ModelName, ShortId, Uuid

__all__ = ["Agents", "session_columns"]

register_constraint_messages({"agent_sessions_goal_check": "goal: at most 65536 characters"})

Ending = Literal["completed", "failed", "cancelled"]
Summary = Annotated[str, Text(65536, sample="done")]
_NEWEST: Final = Keyset(AgentSession, "created_at", "id")
_sessions: Final = many(AgentSession)
_nodes: Final = many(AgentSessionNode)


def session_columns(s: str = "s") -> str:
    """The columns of an agent session from row ``s``, with its short id."""
    neighbour = f"""(SELECT o.id FROM agent_sessions o
                     WHERE o.repository_id = {s}.repository_id AND o.id {{op}} {s}.id
                     ORDER BY o.id {{order}} LIMIT 1)"""
    before = neighbour.format(op="<", order="DESC")
    after = neighbour.format(op=">", order="ASC")
    return f"""{s}.id,
        left(replace({s}.id::text, '-', ''), greatest(8, 1 + greatest(
            coalesce(uuid_common_prefix_length({s}.id, {before}), 0),
            coalesce(uuid_common_prefix_length({s}.id, {after}), 0)))) AS short_id,
        {s}.repository_id, {s}.user_id, {s}.workflow_run_id, {s}.parent_session_id,
        {s}.workspace_id, {s}.agent, {s}.model, {s}.state, {s}.goal, {s}.summary, {s}.ended_at,
        {s}.created_at"""


def _missing(repository_id: int, session_id: object) -> str:
    return f"agent session {session_id} not found in repository {repository_id}"


def _resolved(prefix: str) -> Shape[AgentSession]:
    def convert(result: Result) -> AgentSession:
        found = _sessions.convert(result)
        if not found:
            raise NotFound(f"no agent session starts with {prefix!r}")
        if len(found) > 1:
            raise InvalidInput(
                f"prefix: {prefix!r} names several agent sessions; give more digits",
                field="prefix",
            )
        return found[0]

    return Shape(convert, _sessions.columns)


def _lineage(result: Result) -> builtins.list[AgentSessionNode]:
    nodes = _nodes.convert(result)
    if not nodes:
        raise NotFound("agent session not found")
    return nodes


class Agents(Namespace[R]):
    """Agent sessions."""

    @write
    def start(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        agent: AgentName,
        model: ModelName | None = None,
        goal: Body = "",
        parent_session_id: Uuid | None = None,
        workflow_run_id: Uuid | None = None,
        workspace_id: Uuid | None = None,
    ) -> Query[AgentSession]:
        """Open a session for the actor; a parent session and a run must be of this repository."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            checked AS (
                SELECT guard.id,
                       CASE WHEN %(parent_session_id)s::uuid IS NOT NULL AND NOT EXISTS (
                                SELECT FROM agent_sessions p WHERE p.repository_id = guard.id
                                AND p.id = %(parent_session_id)s)
                            THEN raise_error('FDN01', 'parent session not found')
                            WHEN %(workflow_run_id)s::uuid IS NOT NULL AND NOT EXISTS (
                                SELECT FROM workflow_runs r WHERE r.repository_id = guard.id
                                AND r.id = %(workflow_run_id)s)
                            THEN raise_error('FDN01', 'run not found') END AS refused
                FROM guard
            ), s AS (
                INSERT INTO agent_sessions (repository_id, user_id, workflow_run_id,
                                            parent_session_id, workspace_id, agent, model, goal)
                SELECT id, %(actor_id)s, %(workflow_run_id)s, %(parent_session_id)s,
                       %(workspace_id)s, %(agent)s, %(model)s, %(goal)s
                FROM checked WHERE refused IS NULL
                RETURNING *
            )
            SELECT {session_columns()} FROM s
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "agent": agent,
                "model": model,
                "goal": goal,
                "parent_session_id": parent_session_id,
                "workflow_run_id": workflow_run_id,
                "workspace_id": workspace_id,
            },
            one(AgentSession, "agent session not started"),
        )

    @write
    def end(
        self,
        repository_id: Id,
        session_id: Uuid,
        *,
        actor_id: Id,
        state: Ending,
        summary: Summary | None = None,
    ) -> Query[AgentSession]:
        """End an active session; ``cancelled`` also cancels its active descendants.

        An ended session cannot end again (``Conflict``).
        """
        return Query(
            f"""
            WITH RECURSIVE guard AS ({guard("write")}),
            target AS (
                SELECT s.id, s.state FROM agent_sessions s, guard
                WHERE s.repository_id = guard.id AND s.id = %(session_id)s
            ), checked AS (
                SELECT CASE WHEN NOT EXISTS (SELECT FROM target)
                            THEN raise_error('FDN01', 'agent session not found')
                            WHEN (SELECT state FROM target) <> 'active'
                            THEN raise_error('FDC01', 'the agent session has ended already')
                       END AS refused
            ), tree AS (
                SELECT id, 0 AS depth FROM target WHERE (SELECT refused FROM checked) IS NULL
                UNION ALL
                SELECT c.id, t.depth + 1 FROM agent_sessions c JOIN tree t
                    ON c.parent_session_id = t.id
                WHERE %(state)s = 'cancelled' AND t.depth < {MAX_DEPTH}
            ), ended AS (
                UPDATE agent_sessions s SET
                    state = CASE WHEN t.depth = 0 THEN %(state)s ELSE 'cancelled' END,
                    ended_at = now(),
                    summary = CASE WHEN t.depth = 0 THEN coalesce(%(summary)s, s.summary)
                                   ELSE s.summary END
                FROM tree t WHERE s.id = t.id AND s.state = 'active'
                  AND (SELECT refused FROM checked) IS NULL  -- first, whatever the plan
                RETURNING s.*
            )
            SELECT {session_columns()} FROM ended s WHERE s.id = %(session_id)s
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "session_id": session_id,
                "state": state,
                "summary": summary,
            },
            one(AgentSession, _missing(repository_id, session_id)),
        )

    @read
    def get(
        self, repository_id: Id, session_id: Uuid, *, viewer_id: Id | None = None
    ) -> Query[AgentSession]:
        """One session, if the viewer may read the repository."""
        return Query(
            f"""
            SELECT {session_columns()} FROM agent_sessions s
            WHERE s.repository_id = %(repository_id)s AND s.id = %(session_id)s AND {readable()}
            """,
            {"repository_id": repository_id, "session_id": session_id, "viewer_id": viewer_id},
            one(AgentSession, _missing(repository_id, session_id)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        state: SessionState | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[AgentSession]]:
        """A keyset page of the repository's sessions, newest first; ``state`` filters."""
        size = page_size(limit)
        scope = ("workflows.agents", repository_id, state)
        after_time, after_id = _NEWEST.after(cursor, scope)
        return Query(
            f"""
            SELECT {session_columns()} FROM agent_sessions s
            WHERE s.repository_id = %(repository_id)s AND {readable()}
              AND (%(state)s::text IS NULL OR s.state = %(state)s)
              AND (%(after_id)s::uuid IS NULL
                   OR (s.created_at, s.id) < (%(after_time)s, %(after_id)s))
            ORDER BY s.created_at DESC, s.id DESC
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "state": state,
                "after_time": after_time,
                "after_id": after_id,
                "limit": size + 1,
            },
            _NEWEST.page(size, scope),
        )

    @read
    def resolve(
        self, repository_id: Id, prefix: ShortId, *, viewer_id: Id | None = None
    ) -> Query[AgentSession]:
        """The session whose id starts with ``prefix`` (hex digits, dashes ignored).

        ``NotFound`` when none does; ``InvalidInput`` naming ``prefix`` when several do.
        """
        digits = prefix.replace("-", "").lower()
        if not 4 <= len(digits) <= 32:
            raise InvalidInput("prefix: 4 to 32 hex digits", field="prefix")
        low = uuid.UUID(digits.ljust(32, "0"))
        high = uuid.UUID(digits.ljust(32, "f"))
        return Query(
            f"""
            SELECT {session_columns()} FROM agent_sessions s
            WHERE s.repository_id = %(repository_id)s AND s.id BETWEEN %(low)s AND %(high)s
              AND {readable()}
            ORDER BY s.id
            LIMIT 2
            """,
            {"repository_id": repository_id, "low": low, "high": high, "viewer_id": viewer_id},
            _resolved(prefix),
        )

    @read
    def lineage(
        self, repository_id: Id, session_id: Uuid, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[AgentSessionNode]]:
        """The session's ancestors (negative depth), itself (0) and descendants (positive)."""
        return Query(
            f"""
            WITH RECURSIVE root AS (
                SELECT s.id, s.parent_session_id FROM agent_sessions s
                WHERE s.repository_id = %(repository_id)s AND s.id = %(session_id)s
                  AND {readable()}
            ), up AS (
                SELECT id, parent_session_id, 0 AS depth FROM root
                UNION ALL
                SELECT p.id, p.parent_session_id, u.depth - 1
                FROM agent_sessions p JOIN up u ON p.id = u.parent_session_id
                WHERE u.depth > -{MAX_DEPTH} AND p.repository_id = %(repository_id)s
            ), down AS (
                SELECT id, 0 AS depth FROM root
                UNION ALL
                SELECT c.id, d.depth + 1 FROM agent_sessions c JOIN down d
                    ON c.parent_session_id = d.id
                WHERE d.depth < {MAX_DEPTH} AND c.repository_id = %(repository_id)s
            )
            SELECT s.id, s.parent_session_id, s.agent, s.state, n.depth, s.created_at
            FROM (SELECT id, depth FROM up UNION SELECT id, depth FROM down) n
            JOIN agent_sessions s ON s.id = n.id
            ORDER BY n.depth, s.created_at, s.id
            """,
            {"repository_id": repository_id, "session_id": session_id, "viewer_id": viewer_id},
            Shape(_lineage, _nodes.columns),
        )
