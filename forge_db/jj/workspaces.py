"""``db.jj.workspaces``: working copies, their lifecycle, audit trail and staleness.

The lifecycle ``provisioning -> active <-> stale -> archived`` is a state machine the database
enforces (``jj_workspaces_state_transition``); every state a workspace enters is written to
``jj_workspace_transitions`` by a trigger, with who, which agent and why. Workspace ids are
UUIDv7 and are shown by a short id: 8 characters, more where needed to stay unique in the
repository; any unique prefix resolves.
"""

from __future__ import annotations

from typing import Annotated, Final

from ..access import gate, guard, readable
from ..errors import register_constraint_messages
from ..inputs import Cursor, Duration, Id, Limit, Text
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, one, read, write
from .ids import OperationId, Reason, Uuid, UuidPrefix, uuid_bounds
from .models import Workspace, WorkspaceState, WorkspaceTransition
from .sql import CANDIDATES, resolved

__all__ = ["Workspaces", "short_id"]

register_constraint_messages(
    {
        "jj_workspaces_repository_id_name_key": "a workspace with this name",
        "jj_workspaces_state_transition": "workspace state transition",
    }
)

WorkspaceName = Annotated[
    str,
    Text(
        100,
        min_length=1,
        pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*",
        explain="must start with a letter or digit and hold letters, digits, '.', '_', '-'",
        sample="default",
    ),
]
Host = Annotated[str, Text(255, min_length=1, controls=False, sample="host")]
WorkspacePath = Annotated[str, Text(4096, min_length=1, controls=False, sample="/work/w")]
CommitHex = Annotated[
    str, Text(40, pattern=r"[0-9a-f]{40}", explain="must be 40 hex digits", sample="a" * 40)
]

SHORT_ID_LENGTH: Final = 8
_BY_NAME: Final = Keyset(Workspace, "name")
_BY_ID: Final = Keyset(WorkspaceTransition, "id")
_LIVE: Final = "('provisioning', 'active', 'stale')"


def short_id(alias: str = "w", column: str = "id") -> str:
    """The shortest prefix of ``alias.column`` (a UUID) unique among the repository's
    workspaces, 8 characters at least: its neighbours in the ``(repository_id, id)`` index."""
    text = f"{alias}.{column}::text"
    neighbour = (
        "(SELECT n.{c}::text FROM jj_workspaces n WHERE n.repository_id = {a}.repository_id "
        "AND n.{c} {op} {a}.{c} ORDER BY n.{c} {order} LIMIT 1)"
    )
    below = neighbour.format(c=column, a=alias, op="<", order="DESC")
    above = neighbour.format(c=column, a=alias, op=">", order="ASC")
    return (
        f"left({text}, greatest({SHORT_ID_LENGTH}, 1 + greatest("
        f"jj_common_prefix_length({text}, {below}), jj_common_prefix_length({text}, {above}))))"
    )


def columns(w: str = "w") -> str:
    """The columns of :class:`~forge_db.jj.models.Workspace` from ``jj_workspaces`` ``w``."""
    return (
        f"{w}.id, {short_id(w)} AS short_id, {w}.repository_id, {w}.user_id, {w}.agent_id, "
        f"{w}.name, {w}.state, {w}.host, {w}.path, {w}.working_copy_commit_id, "
        f"{w}.last_operation_id, {w}.last_synced_at, {w}.created_at, {w}.updated_at"
    )


class Workspaces(Namespace[R]):
    """Workspaces of a repository (write role to create and change them)."""

    @write
    def create(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        name: WorkspaceName,
        agent_id: Uuid | None = None,
        host: Host | None = None,
        path: WorkspacePath | None = None,
        reason: Reason = "",
    ) -> Query[Workspace]:
        """A new workspace, ``provisioning``, owned by the actor (and worked in by an agent)."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            created AS (
                INSERT INTO jj_workspaces (repository_id, user_id, name, agent_id, host, path,
                                           transition_actor_id, transition_reason)
                SELECT id, %(actor_id)s, %(name)s, %(agent_id)s, %(host)s, %(path)s,
                       %(actor_id)s, %(reason)s
                FROM guard
                RETURNING *
            )
            SELECT {columns("w")} FROM created w
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "name": name,
                "agent_id": agent_id,
                "host": host,
                "path": path,
                "reason": reason,
            },
            one(Workspace, "workspace not created"),
        )

    @read
    def get(
        self, repository_id: Id, workspace_id: Uuid, *, viewer_id: Id | None = None
    ) -> Query[Workspace]:
        """A workspace by its id."""
        return Query(
            f"""
            SELECT {columns("w")} FROM jj_workspaces w
            WHERE w.repository_id = %(repository_id)s AND w.id = %(workspace_id)s
              AND {readable()}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "workspace_id": workspace_id},
            one(Workspace, f"workspace {workspace_id} not found in repository {repository_id}"),
        )

    @read
    def resolve(
        self, repository_id: Id, prefix: UuidPrefix, *, viewer_id: Id | None = None
    ) -> Query[Workspace]:
        """The one workspace whose id starts with ``prefix`` (its short id, or longer)."""
        low, high = uuid_bounds(prefix)
        return Query(
            f"""
            SELECT {columns("w")} FROM jj_workspaces w
            WHERE w.repository_id = %(repository_id)s AND w.id BETWEEN %(low)s AND %(high)s
              AND {readable()}
            ORDER BY w.id
            LIMIT {CANDIDATES + 1}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "low": low, "high": high},
            resolved(Workspace, "workspace", prefix, "id", "prefix"),
        )

    @read
    def resolve_agent(
        self, repository_id: Id, prefix: UuidPrefix, *, viewer_id: Id | None = None
    ) -> Query[Workspace]:
        """The workspace of the one agent whose id starts with ``prefix``."""
        low, high = uuid_bounds(prefix)
        return Query(
            f"""
            SELECT {columns("w")} FROM jj_workspaces w
            WHERE w.repository_id = %(repository_id)s AND w.agent_id BETWEEN %(low)s AND %(high)s
              AND {readable()}
            ORDER BY w.agent_id, w.id
            LIMIT {CANDIDATES + 1}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "low": low, "high": high},
            resolved(Workspace, "agent", prefix, "agent_id", "prefix"),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        state: WorkspaceState | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Workspace]]:
        """The repository's workspaces by name, of one state or all."""
        size = page_size(limit)
        scope = ("jj_workspaces", repository_id, state)
        (after,) = _BY_NAME.after(cursor, scope)
        return Query(
            f"""
            SELECT {columns("w")} FROM jj_workspaces w
            WHERE w.repository_id = %(repository_id)s AND {readable()}
              AND (%(state)s::text IS NULL OR w.state = %(state)s)
              AND (%(after)s::text IS NULL OR w.name > %(after)s)
            ORDER BY w.name
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "state": state,
                "after": after,
                "limit": size + 1,
            },
            _BY_NAME.page(size, scope),
        )

    @write
    def transition(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        actor_id: Id,
        state: WorkspaceState,
        reason: Reason = "",
    ) -> Query[Workspace]:
        """Move a workspace to ``state``; an illegal move is ``Conflict``, from the database."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            moved AS (
                UPDATE jj_workspaces w
                   SET state = %(state)s, transition_actor_id = %(actor_id)s,
                       transition_reason = %(reason)s
                  FROM guard
                 WHERE w.repository_id = guard.id AND w.id = %(workspace_id)s AND {gate()}
                RETURNING w.*
            )
            SELECT {columns("w")} FROM moved w
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "workspace_id": workspace_id,
                "state": state,
                "reason": reason,
            },
            one(Workspace, f"workspace {workspace_id} not found in repository {repository_id}"),
        )

    @write
    def sync(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        actor_id: Id,
        operation_id: OperationId,
        working_copy_commit_id: CommitHex,
    ) -> Query[Workspace]:
        """Record a sync (``jj workspace update-stale``): a stale workspace becomes active."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            synced AS (
                UPDATE jj_workspaces w
                   SET last_operation_id = %(operation_id)s,
                       working_copy_commit_id = %(working_copy_commit_id)s,
                       last_synced_at = now(),
                       state = CASE WHEN w.state = 'stale' THEN 'active' ELSE w.state END,
                       transition_actor_id = CASE WHEN w.state = 'stale' THEN %(actor_id)s
                                                  ELSE w.transition_actor_id END,
                       transition_reason = CASE WHEN w.state = 'stale' THEN 'synced'
                                                ELSE w.transition_reason END
                  FROM guard
                 WHERE w.repository_id = guard.id AND w.id = %(workspace_id)s AND {gate()}
                RETURNING w.*
            )
            SELECT {columns("w")} FROM synced w
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "workspace_id": workspace_id,
                "operation_id": operation_id,
                "working_copy_commit_id": working_copy_commit_id,
            },
            one(Workspace, f"workspace {workspace_id} not found in repository {repository_id}"),
        )

    @read
    def history(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[WorkspaceTransition]]:
        """The workspace's audit trail, oldest first: every state it entered, who and why."""
        size = page_size(limit)
        scope = ("jj_workspace_transitions", repository_id, str(workspace_id))
        (after,) = _BY_ID.after(cursor, scope)
        return Query(
            f"""
            SELECT t.id, t.workspace_id, t.from_state, t.to_state, t.actor_id, t.agent_id,
                   t.reason, t.created_at
            FROM jj_workspace_transitions t
            WHERE t.repository_id = %(repository_id)s AND t.workspace_id = %(workspace_id)s
              AND {readable()}
              AND (%(after)s::bigint IS NULL OR t.id > %(after)s)
            ORDER BY t.id
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "workspace_id": workspace_id,
                "after": after,
                "limit": size + 1,
            },
            _BY_ID.page(size, scope),
        )

    @read
    def find_stale(
        self,
        repository_id: Id,
        *,
        older_than: Duration,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Workspace]]:
        """Orphans: live workspaces not synced (or, never synced, not created) for a while."""
        size = page_size(limit)
        scope = ("jj_workspaces.stale", repository_id, older_than.total_seconds())
        (after,) = _BY_NAME.after(cursor, scope)
        return Query(
            f"""
            SELECT {columns("w")} FROM jj_workspaces w
            WHERE w.repository_id = %(repository_id)s AND {readable()}
              AND w.state IN {_LIVE}
              AND coalesce(w.last_synced_at, w.created_at) < now() - %(older_than)s::interval
              AND (%(after)s::text IS NULL OR w.name > %(after)s)
            ORDER BY w.name
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "older_than": older_than,
                "after": after,
                "limit": size + 1,
            },
            _BY_NAME.page(size, scope),
        )
