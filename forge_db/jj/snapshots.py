"""``db.jj.snapshots``: the history of a workspace's working-copy snapshots.

Each time jj snapshots a working copy it records an operation and a new working-copy commit;
the forge logs the pair with how many files changed and how long it took. The log is
append-only, and the database says so: ``snapshot_history`` refuses updates, truncation and
any delete but the cascade of its workspace or operation. UUIDv7 ids make id order time order.
"""

from __future__ import annotations

from typing import Annotated, Final

from ..access import gate, guard, readable
from ..inputs import Bounded, Cursor, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, one, optional, read, write
from .ids import OperationId, Uuid
from .models import Snapshot
from .workspaces import CommitHex

__all__ = ["Snapshots"]

Count = Annotated[int, Bounded(0, 2_147_483_647)]
_NEWEST: Final = Keyset(Snapshot, "id")
_COLUMNS: Final = (
    "s.id, s.workspace_id, s.operation_id, s.working_copy_commit_id, s.files_changed, "
    "s.duration_ms, s.created_at"
)


class Snapshots(Namespace[R]):
    """Snapshot history of workspaces (write role to record, read role to read)."""

    @write
    def record(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        actor_id: Id,
        operation_id: OperationId,
        working_copy_commit_id: CommitHex,
        files_changed: Count = 0,
        duration_ms: Count | None = None,
    ) -> Query[Snapshot]:
        """Log a snapshot of a live workspace: its (stored) operation and working-copy commit."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT w.repository_id, w.id,
                       CASE WHEN w.state = 'archived'
                            THEN raise_error('FDC01', 'workspace is archived')
                            ELSE 0 END AS live
                FROM jj_workspaces w
                WHERE w.repository_id = %(repository_id)s AND w.id = %(workspace_id)s
                  AND {gate()}
            ),
            recorded AS (
                INSERT INTO snapshot_history (repository_id, workspace_id, operation_id,
                                              working_copy_commit_id, files_changed, duration_ms)
                SELECT t.repository_id, t.id, %(operation_id)s, %(working_copy_commit_id)s,
                       %(files_changed)s, %(duration_ms)s
                FROM target t WHERE t.live = 0
                RETURNING *
            )
            SELECT {_COLUMNS} FROM recorded s
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "workspace_id": workspace_id,
                "operation_id": operation_id,
                "working_copy_commit_id": working_copy_commit_id,
                "files_changed": files_changed,
                "duration_ms": duration_ms,
            },
            one(Snapshot, f"workspace {workspace_id} not found in repository {repository_id}"),
        )

    @read
    def list(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Snapshot]]:
        """The workspace's snapshots, newest first."""
        size = page_size(limit)
        scope = ("snapshot_history", repository_id, str(workspace_id))
        (after,) = _NEWEST.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS} FROM snapshot_history s
            WHERE s.repository_id = %(repository_id)s AND s.workspace_id = %(workspace_id)s
              AND {readable()}
              AND (%(after)s::uuid IS NULL OR s.id < %(after)s)
            ORDER BY s.id DESC
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "workspace_id": workspace_id,
                "after": after,
                "limit": size + 1,
            },
            _NEWEST.page(size, scope),
        )

    @read
    def find_latest(
        self, repository_id: Id, workspace_id: Uuid, *, viewer_id: Id | None = None
    ) -> Query[Snapshot | None]:
        """The workspace's last snapshot, or ``None`` before its first."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM snapshot_history s
            WHERE s.repository_id = %(repository_id)s AND s.workspace_id = %(workspace_id)s
              AND {readable()}
            ORDER BY s.id DESC
            LIMIT 1
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "workspace_id": workspace_id},
            optional(Snapshot),
        )
