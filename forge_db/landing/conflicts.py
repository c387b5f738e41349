"""``db.landing.conflicts``: jj conflicts of a change, recorded per commit and path.

A change with an unresolved conflict is never ready to land. Recording the conflicts of a newer
commit of a change resolves, by that commit, those of its older commits whose paths it no
longer conflicts at; :meth:`Conflicts.resolve` resolves one path explicitly. Writes need the
write role (they come from the forge's jj backend acting for a user).
"""

from __future__ import annotations

import builtins
from typing import Final

from ..access import guard, readable
from ..inputs import CommitId, Flag, Id
from ..query import Namespace, Query, R, many, one, read, write
from .models import ChangeId, Conflict, FilePath, FilePaths, Sides

__all__ = ["Conflicts"]

_COLUMNS: Final = """
    c.id, c.repository_id, c.change_id, c.commit_id, c.path, c.sides::integer AS sides,
    l.number AS landing_number, c.resolved_at, c.resolved_commit_id, c.created_at"""
_LANDING: Final = (
    "LEFT JOIN landing_queue l ON l.repository_id = c.repository_id AND l.id = c.landing_id"
)


class Conflicts(Namespace[R]):
    """Conflicts recorded on the commits of jj changes."""

    @write
    def record(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        change_id: ChangeId,
        commit_id: CommitId,
        paths: FilePaths,
        sides: Sides = 2,
        landing_number: Id | None = None,
    ) -> Query[builtins.list[Conflict]]:
        """Record that ``commit_id`` of ``change_id`` conflicts at ``paths`` (write).

        Conflicts of the change's other commits at paths not listed are resolved by this
        commit. ``landing_number`` names the landing request where they were found.
        """
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            request AS (
                SELECT CASE WHEN %(landing_number)s::bigint IS NULL THEN NULL
                            ELSE coalesce((SELECT l.id FROM landing_queue l, guard
                                           WHERE l.repository_id = guard.id
                                             AND l.number = %(landing_number)s),
                                          raise_error('FDN01', 'that landing request does not exist'))
                       END AS id
            ), resolved AS (
                UPDATE conflicts c SET resolved_at = now(), resolved_commit_id = %(commit_id)s
                FROM guard
                WHERE c.repository_id = guard.id AND c.change_id = %(change_id)s
                  AND c.commit_id <> %(commit_id)s AND c.resolved_at IS NULL
                  AND NOT c.path = ANY(%(paths)s::text[])
            ), c AS (
                INSERT INTO conflicts AS c (repository_id, landing_id, change_id, commit_id, path, sides)
                SELECT guard.id, request.id, %(change_id)s, %(commit_id)s, path, %(sides)s
                FROM guard, request, unnest(%(paths)s::text[]) AS path
                ON CONFLICT (repository_id, commit_id, path) DO UPDATE SET
                    sides = EXCLUDED.sides, landing_id = coalesce(EXCLUDED.landing_id, c.landing_id)
                RETURNING c.*
            )
            SELECT {_COLUMNS} FROM c {_LANDING} ORDER BY c.path
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "change_id": change_id,
                "commit_id": commit_id,
                "paths": paths,
                "sides": sides,
                "landing_number": landing_number,
            },
            many(Conflict),
        )

    @write
    def resolve(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        change_id: ChangeId,
        path: FilePath,
        resolved_commit_id: CommitId,
    ) -> Query[Conflict]:
        """Mark the change's conflict at ``path`` resolved by its later ``resolved_commit_id``."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            c AS (
                UPDATE conflicts c SET resolved_at = now(), resolved_commit_id = %(resolved)s
                FROM guard
                WHERE c.repository_id = guard.id AND c.change_id = %(change_id)s
                  AND c.path = %(path)s AND c.resolved_at IS NULL
                  AND (c.commit_id <> %(resolved)s
                       OR raise_error('FDC01', 'a conflict is resolved by a later commit') IS NULL)
                RETURNING c.*
            )
            SELECT {_COLUMNS} FROM c {_LANDING} ORDER BY c.id LIMIT 1
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "change_id": change_id,
                "path": path,
                "resolved": resolved_commit_id,
            },
            one(Conflict, f"no unresolved conflict of {change_id} at that path"),
        )

    @read
    def list(
        self,
        repository_id: Id,
        change_id: ChangeId,
        *,
        viewer_id: Id | None = None,
        unresolved_only: Flag = True,
    ) -> Query[builtins.list[Conflict]]:
        """The conflicts of a change, by commit and path (only unresolved ones by default)."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM conflicts c {_LANDING}
            WHERE c.repository_id = %(repository_id)s AND c.change_id = %(change_id)s
              AND (NOT %(unresolved_only)s OR c.resolved_at IS NULL)
              AND {readable()}
            ORDER BY c.id
            LIMIT 10000
            """,
            {
                "repository_id": repository_id,
                "change_id": change_id,
                "viewer_id": viewer_id,
                "unresolved_only": unresolved_only,
            },
            many(Conflict),
        )
