"""``db.jj.locks``: TTL locks per (workspace, operation), held by an agent id.

One lock per workspace and operation (``sync``, ``remove``, ``modify``, ``spawn``), taken with
the schema's lease functions (``lease_acquire``, ``lease_renew``, ``lease_release`` on the
``leases`` table), which every domain holding a lease shares: a lock is free again when its TTL
runs out, every acquisition hands out a larger fencing token, and a renewal or release with a
stale token (the lock expired and another agent took it) is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ..access import gate, guard
from ..claims import LEASE_SECONDS, LeaseSeconds, Token
from ..inputs import Id
from ..query import Namespace, Query, R, one, scalar, write
from .ids import LockOperation, Uuid
from .models import WorkspaceLock

__all__ = ["Locks", "lock_name"]


# The workspace must exist in the repository (and, to be locked, not be archived: releasing
# and renewing still work there); otherwise NotFound, and the statement is undone.
def _workspace(live: bool) -> str:
    archived = "AND w.state <> 'archived'" if live else ""
    return f"""
    WITH guard AS ({guard("write")}),
    workspace AS (
        SELECT coalesce(
            (SELECT 1 FROM jj_workspaces w
              WHERE w.repository_id = (SELECT id FROM guard) AND w.id = %(workspace_id)s
                {archived}),
            raise_error('FDN01', 'workspace not found{", or archived" if live else ""}')) AS found
        WHERE {gate()}
    )
    """


def lock_name(workspace_id: UUID, operation: str) -> str:
    """The lease name of a workspace lock."""
    return f"jj_workspace:{workspace_id}:{operation}"


def _params(
    repository_id: int, workspace_id: UUID, actor_id: int, agent_id: UUID, operation: str
) -> dict[str, Any]:
    return {
        "repository_id": repository_id,
        "workspace_id": workspace_id,
        "actor_id": actor_id,
        "holder": str(agent_id),
        "operation": operation,
        "name": lock_name(workspace_id, operation),
    }


class Locks(Namespace[R]):
    """Workspace locks (write role): exclusive per (workspace, operation) until they expire."""

    @write
    def acquire(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        actor_id: Id,
        agent_id: Uuid,
        operation: LockOperation,
        lease: LeaseSeconds = LEASE_SECONDS,
    ) -> Query[WorkspaceLock]:
        """Take (or, held by this agent, renew) the lock; ``acquired`` says whether it is ours."""
        return Query(
            f"""
            {_workspace(live=True)}
            SELECT %(workspace_id)s::uuid AS workspace_id, %(operation)s::text AS operation,
                   l.holder, l.fencing_token, l.expires_at, l.acquired
            FROM workspace,
                 lease_acquire(%(name)s, %(holder)s, make_interval(secs => %(lease)s)) AS l
            WHERE workspace.found = 1
            """,
            {
                **_params(repository_id, workspace_id, actor_id, agent_id, operation),
                "lease": lease,
            },
            one(WorkspaceLock, "lock not taken"),
        )

    @write
    def renew(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        actor_id: Id,
        agent_id: Uuid,
        operation: LockOperation,
        token: Token,
        lease: LeaseSeconds = LEASE_SECONDS,
    ) -> Query[datetime]:
        """Extend a held lock; its new expiry. A stale token is ``Conflict``."""
        return Query(
            f"""
            {_workspace(live=False)}
            SELECT lease_renew(%(name)s, %(holder)s, %(token)s, make_interval(secs => %(lease)s))
                   AS expires_at
            FROM workspace WHERE workspace.found = 1
            """,
            {
                **_params(repository_id, workspace_id, actor_id, agent_id, operation),
                "token": token,
                "lease": lease,
            },
            scalar(datetime),
        )

    @write
    def release(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        actor_id: Id,
        agent_id: Uuid,
        operation: LockOperation,
        token: Token,
    ) -> Query[bool]:
        """Give the lock back; false when it was no longer held with ``token``."""
        return Query(
            f"""
            {_workspace(live=False)}
            SELECT lease_release(%(name)s, %(holder)s, %(token)s) AS released
            FROM workspace WHERE workspace.found = 1
            """,
            {
                **_params(repository_id, workspace_id, actor_id, agent_id, operation),
                "token": token,
            },
            scalar(bool),
        )
