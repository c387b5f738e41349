"""``db.jj.parts``: the parts of a commit, one per path it touches, and a path's history.

A part says how a commit changed one path (added, modified, deleted, renamed, copied, or left
conflicted), with the blobs before and after and the line counts. Parts are derived from an
immutable commit: recording them again is a no-op, and the table refuses updates. Their blobs
must be held by the repository (put them first): the foreign key to ``repository_blobs`` is what
keeps garbage collection from removing a blob a part names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from ..access import gate, guard, readable
from ..errors import register_constraint_messages
from ..inputs import CommitId, Cursor, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Copy, Namespace, Query, R, read, scalar, write
from .ids import RepoPath
from .models import Part, PartRecord, PartRecords

__all__ = ["Parts", "part_columns"]

register_constraint_messages(
    {
        "parts_old_path_status_check": "part: old_path is set exactly for a rename or copy",
        "parts_blobs_status_check": "part: an added file has no old blob, a deleted one no new",
    }
)

_STAGE: Final = "pg_temp.jj_part_stage"
_SETUP: Final = f"""
    CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        position bigint, commit_id text, path text, status text, old_path text,
        old_blob_hash bytea, new_blob_hash bytea, additions integer, deletions integer
    ) ON COMMIT DROP
"""
_COPY: Final = f"""
    COPY {_STAGE} (position, commit_id, path, status, old_path, old_blob_hash, new_blob_hash,
                   additions, deletions) FROM STDIN (FORMAT BINARY)
"""
_TYPES: Final = (
    "int8", "text", "text", "text", "text", "bytea", "bytea", "int4", "int4",
)  # fmt: skip
_BY_PATH: Final = Keyset(Part, "path")
_NEWEST: Final = Keyset(Part, "committed_at", "commit_id")


def _rows(records: Sequence[PartRecord]) -> Iterator[tuple[Any, ...]]:
    for position, r in enumerate(records):
        yield (
            position,
            r.commit_id,
            r.path,
            r.status,
            r.old_path,
            bytes.fromhex(r.old_blob_hash) if r.old_blob_hash else None,
            bytes.fromhex(r.new_blob_hash) if r.new_blob_hash else None,
            r.additions,
            r.deletions,
        )


def part_columns(p: str = "p", c: str = "c") -> str:
    """The columns of :class:`~forge_db.jj.models.Part` from ``parts`` ``p`` and its commit
    ``c`` (``changes``)."""
    return (
        f"{c}.commit_id, {c}.change_id, {p}.path, {p}.status, {p}.old_path, "
        f"encode({p}.old_blob_hash, 'hex') AS old_blob_hash, "
        f"encode({p}.new_blob_hash, 'hex') AS new_blob_hash, {p}.additions, {p}.deletions, "
        f"{c}.committed_at, {p}.created_at"
    )


class Parts(Namespace[R]):
    """The paths commits touch (write role to record, read role to list)."""

    @write
    def record(self, repository_id: Id, parts: PartRecords, *, actor_id: Id) -> Query[int]:
        """Record parts of recorded commits in bulk (idempotent by commit and path); how many
        were new. An unknown commit is ``NotFound``; a blob the repository does not hold is
        ``InvalidInput`` (``parts``)."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            staged AS (DELETE FROM {_STAGE} RETURNING *),
            resolved AS (
                SELECT s.*, c.id AS change_row_id,
                       (s.old_blob_hash IS NULL OR EXISTS (
                            SELECT FROM repository_blobs rb
                            WHERE rb.repository_id = %(repository_id)s
                              AND rb.hash = s.old_blob_hash))
                       AND (s.new_blob_hash IS NULL OR EXISTS (
                            SELECT FROM repository_blobs rb
                            WHERE rb.repository_id = %(repository_id)s
                              AND rb.hash = s.new_blob_hash)) AS blobs_held
                FROM staged s
                LEFT JOIN changes c ON c.repository_id = %(repository_id)s
                                   AND c.commit_id = s.commit_id
            ),
            checked AS (
                SELECT r.*,
                       CASE WHEN r.change_row_id IS NULL
                            THEN raise_error('FDN01', format(
                                'parts[%%s]: commit %%s not found in repository %%s',
                                r.position, r.commit_id, %(repository_id)s))
                            WHEN NOT r.blobs_held
                            THEN raise_invalid('parts', format(
                                '[%%s] a blob of %%s is not stored in the repository (put it first)',
                                r.position, r.path))
                            ELSE r.change_row_id END AS row_id
                FROM resolved r
            ),
            inserted AS (
                INSERT INTO parts (repository_id, change_row_id, path, status, old_path,
                                   old_blob_hash, new_blob_hash, additions, deletions)
                SELECT guard.id, k.row_id, k.path, k.status, k.old_path, k.old_blob_hash,
                       k.new_blob_hash, k.additions, k.deletions
                FROM checked k CROSS JOIN guard
                ORDER BY k.row_id, k.path
                ON CONFLICT (repository_id, change_row_id, path) DO NOTHING
                RETURNING 1
            )
            SELECT count(*)::bigint AS recorded FROM inserted WHERE {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id},
            scalar(int),
            copy=Copy(_SETUP, _COPY, _TYPES, _rows(parts)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        commit_id: CommitId,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Part]]:
        """The parts of a commit by path (what ``jj diff --summary`` lists)."""
        size = page_size(limit)
        scope = ("parts", repository_id, commit_id)
        (after,) = _BY_PATH.after(cursor, scope)
        return Query(
            f"""
            SELECT {part_columns("p", "c")}
            FROM changes c
            JOIN parts p ON p.repository_id = c.repository_id AND p.change_row_id = c.id
            WHERE c.repository_id = %(repository_id)s AND c.commit_id = %(commit_id)s
              AND {readable()}
              AND (%(after)s::text IS NULL OR p.path > %(after)s)
            ORDER BY p.path
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "commit_id": commit_id,
                "after": after,
                "limit": size + 1,
            },
            _BY_PATH.page(size, scope),
        )

    @read
    def history(
        self,
        repository_id: Id,
        path: RepoPath,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Part]]:
        """The visible commits that touched ``path`` (a rename's new path), newest first."""
        size = page_size(limit)
        scope = ("parts.history", repository_id, path)
        after_at, after_id = _NEWEST.after(cursor, scope)
        return Query(
            f"""
            SELECT {part_columns("p", "c")}
            FROM parts p
            JOIN changes c ON c.repository_id = p.repository_id AND c.id = p.change_row_id
            WHERE p.repository_id = %(repository_id)s AND p.path = %(path)s AND NOT c.hidden
              AND {readable()}
              AND (%(after_at)s::timestamptz IS NULL
                   OR (c.committed_at, c.commit_id) < (%(after_at)s, %(after_id)s::text))
            ORDER BY c.committed_at DESC, c.commit_id DESC
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "path": path,
                "after_at": after_at,
                "after_id": after_id,
                "limit": size + 1,
            },
            _NEWEST.page(size, scope),
        )
