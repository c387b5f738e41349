"""``db.jj.file_trackers``: the tracked files of a workspace's working copy (jj's tree state).

For each tracked path, jj keeps the file's type, size and modification time as its last snapshot
saw them, and the content it then had: a snapshot reads and hashes only the files whose stat
changed. ``set`` records what a snapshot saw (and drops the paths it no longer tracks), in one
``COPY``; ``changed`` is that comparison, for thousands of files in one round trip. The blob a
tracked file names must be held by the repository; the foreign key to ``repository_blobs``
keeps garbage collection from removing it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import Any, Final

from ..access import gate, guard, readable
from ..errors import InvalidInput
from ..inputs import Cursor, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Copy, Namespace, Query, R, read, scalar, scalars, write
from .ids import RepoPaths, Uuid
from .models import FileState, FileStates, TrackedFile

__all__ = ["FileTrackers"]

_STAGE: Final = "pg_temp.jj_file_stage"
_SETUP: Final = f"""
    CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        path text, removed boolean, file_type text, size bigint, mtime timestamptz,
        blob_hash bytea
    ) ON COMMIT DROP
"""
_COPY: Final = f"""
    COPY {_STAGE} (path, removed, file_type, size, mtime, blob_hash) FROM STDIN (FORMAT BINARY)
"""
_TYPES: Final = ("text", "bool", "text", "int8", "timestamptz", "bytea")
_BY_PATH: Final = Keyset(TrackedFile, "path")
_COLUMNS: Final = (
    "f.path, f.file_type, f.size, f.mtime, encode(f.blob_hash, 'hex') AS blob_hash, "
    "f.created_at, f.updated_at"
)


def _rows(files: Sequence[FileState], removed: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    for f in files:
        blob = bytes.fromhex(f.blob_hash) if f.blob_hash else None
        yield (f.path, False, f.file_type, f.size, f.mtime, blob)
    for path in removed:
        yield (path, True, None, None, None, None)


def _workspace(alias: str = "w") -> str:
    """The workspace named by ``%(workspace_id)s`` in the repository, as ``alias``."""
    return (
        f"jj_workspaces {alias} WHERE {alias}.repository_id = %(repository_id)s "
        f"AND {alias}.id = %(workspace_id)s"
    )


class FileTrackers(Namespace[R]):
    """Tracked files of workspaces (write role to record a snapshot's, read role to read)."""

    @write
    def set(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        *,
        actor_id: Id,
        files: FileStates,
        removed: RepoPaths | None = None,
    ) -> Query[int]:
        """Record the files a snapshot saw and untrack ``removed``; how many rows changed."""
        removed = removed or []
        paths = [f.path for f in files]
        if len(set(paths)) != len(paths):
            raise InvalidInput("files: must not hold a path twice", field="files")
        if not set(paths).isdisjoint(removed):
            raise InvalidInput("removed: a path cannot be both set and removed", field="removed")
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT w.repository_id, w.id,
                       CASE WHEN w.state = 'archived'
                            THEN raise_error('FDC01', 'workspace is archived')
                            ELSE 0 END AS live
                FROM {_workspace("w")} AND {gate()}
            ),
            staged AS (DELETE FROM {_STAGE} RETURNING *),
            checked AS (
                SELECT s.*,
                       CASE WHEN s.blob_hash IS NOT NULL AND NOT EXISTS (
                                SELECT FROM repository_blobs rb
                                WHERE rb.repository_id = %(repository_id)s
                                  AND rb.hash = s.blob_hash)
                            THEN raise_invalid('files', format(
                                '%%s: its blob is not stored in the repository (put it first)',
                                s.path))
                            ELSE 0 END AS held
                FROM staged s
            ),
            upserted AS (
                INSERT INTO file_trackers AS f (workspace_id, repository_id, path, file_type,
                                                size, mtime, blob_hash)
                SELECT t.id, t.repository_id, k.path, k.file_type, k.size, k.mtime, k.blob_hash
                FROM checked k CROSS JOIN target t
                WHERE NOT k.removed AND k.held = 0 AND t.live = 0
                ORDER BY k.path
                ON CONFLICT (repository_id, workspace_id, path) DO UPDATE
                   SET file_type = excluded.file_type, size = excluded.size,
                       mtime = excluded.mtime, blob_hash = excluded.blob_hash
                 WHERE (f.file_type, f.size, f.mtime, f.blob_hash)
                       IS DISTINCT FROM
                       (excluded.file_type, excluded.size, excluded.mtime, excluded.blob_hash)
                RETURNING 1
            ),
            untracked AS (
                DELETE FROM file_trackers f
                USING checked k, target t
                WHERE k.removed AND t.live = 0 AND f.repository_id = t.repository_id
                  AND f.workspace_id = t.id AND f.path = k.path
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM upserted) + (SELECT count(*) FROM untracked) AS changed
            FROM target
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "workspace_id": workspace_id},
            scalar(int, f"workspace {workspace_id} not found in repository {repository_id}"),
            copy=Copy(_SETUP, _COPY, _TYPES, _rows(files, removed)),
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
    ) -> Query[Page[TrackedFile]]:
        """The workspace's tracked files by path."""
        size = page_size(limit)
        scope = ("file_trackers", repository_id, str(workspace_id))
        (after,) = _BY_PATH.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS} FROM file_trackers f
            WHERE f.repository_id = %(repository_id)s AND f.workspace_id = %(workspace_id)s
              AND {readable()}
              AND (%(after)s::text IS NULL OR f.path > %(after)s)
            ORDER BY f.path
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "workspace_id": workspace_id,
                "after": after,
                "limit": size + 1,
            },
            _BY_PATH.page(size, scope),
        )

    @read
    def changed(
        self,
        repository_id: Id,
        workspace_id: Uuid,
        files: FileStates,
        *,
        viewer_id: Id | None = None,
    ) -> Query[builtins.list[str]]:
        """Which of ``files`` (as the working copy sees them now) are untracked or differ in
        type, size or modification time from the last snapshot, in the order given."""
        return Query(
            f"""
            WITH allowed AS (
                SELECT CASE WHEN {readable()} AND EXISTS (SELECT FROM {_workspace("w")})
                            THEN 1
                            ELSE raise_error('FDN01', 'workspace not found') END AS ok
            )
            SELECT s.path
            FROM unnest(%(paths)s::text[], %(types)s::text[], %(sizes)s::bigint[],
                        %(mtimes)s::timestamptz[]) WITH ORDINALITY
                 AS s (path, file_type, size, mtime, position)
            WHERE EXISTS (SELECT FROM allowed WHERE ok = 1)
              AND NOT EXISTS (
                  SELECT FROM file_trackers f
                  WHERE f.repository_id = %(repository_id)s
                    AND f.workspace_id = %(workspace_id)s AND f.path = s.path
                    AND f.file_type = s.file_type AND f.size = s.size
                    AND f.mtime IS NOT DISTINCT FROM s.mtime)
            ORDER BY s.position
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "workspace_id": workspace_id,
                "paths": [f.path for f in files],
                "types": [f.file_type for f in files],
                "sizes": [f.size for f in files],
                "mtimes": [f.mtime for f in files],
            },
            scalars(str),
        )
