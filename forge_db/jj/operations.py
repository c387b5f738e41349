"""``db.jj.operations``: a repository's jj operation log: record, heads, log, resolve.

Operations arrive in bulk (``COPY``) and are immutable; recording one again changes nothing.
The database keeps the heads (operations no stored operation names as parent) and refuses an
operation whose parent is neither stored nor in the same batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from ..access import gate, guard, readable
from ..errors import register_constraint_messages
from ..inputs import Cursor, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Copy, Namespace, Query, R, many, read, scalar, write
from .ids import OperationIds, OperationPrefix, prefix_upper
from .models import Operation, OperationHeads, OperationRecord, OperationRecords, ShortPrefix
from .sql import CANDIDATES, neighbour_length, operation_columns, resolved, wrapped

__all__ = ["Operations"]

register_constraint_messages(
    {
        "jj_operations_time_check": "operation: ended_at must not be before started_at",
        "jj_operations_parent_operation_ids_check": "operation: at most 64 parents",
    }
)

_LOG: Final = Keyset(Operation, "ended_at", "operation_id")
_STAGE: Final = "pg_temp.jj_operation_stage"
_SETUP: Final = f"""
    CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        operation_id text, parent_operation_ids text[], view_id text, view jsonb,
        metadata jsonb, is_snapshot boolean, started_at timestamptz, ended_at timestamptz
    ) ON COMMIT DROP
"""
_COPY: Final = f"""
    COPY {_STAGE} (operation_id, parent_operation_ids, view_id, view, metadata, is_snapshot,
                   started_at, ended_at) FROM STDIN (FORMAT BINARY)
"""
_TYPES: Final = ("text", "text[]", "text", "jsonb", "jsonb", "bool", "timestamptz", "timestamptz")


def _rows(records: Sequence[OperationRecord]) -> Iterator[tuple[Any, ...]]:
    for r in records:
        metadata = {
            "description": r.description,
            "hostname": r.hostname,
            "username": r.username,
            "tags": r.tags,
        }
        yield (
            r.operation_id,
            r.parent_operation_ids,
            r.view_id,
            r.view,
            metadata,
            r.is_snapshot,
            r.started_at,
            r.ended_at,
        )


def _heads(operations: list[Operation]) -> OperationHeads:
    return OperationHeads(heads=operations, concurrent=len(operations) > 1)


class Operations(Namespace[R]):
    """The operation log: jj's op store, as the forge keeps it (write role to record)."""

    @write
    def record(
        self, repository_id: Id, operations: OperationRecords, *, actor_id: Id
    ) -> Query[int]:
        """Record operations in bulk (idempotent); how many were new."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            staged AS (DELETE FROM {_STAGE} RETURNING *),
            inserted AS (
                INSERT INTO jj_operations (repository_id, operation_id, parent_operation_ids,
                                           view_id, view, metadata, is_snapshot, started_at,
                                           ended_at)
                SELECT guard.id, s.operation_id, s.parent_operation_ids, s.view_id, s.view,
                       s.metadata, s.is_snapshot, s.started_at, s.ended_at
                FROM staged s CROSS JOIN guard
                ON CONFLICT (repository_id, operation_id) DO NOTHING
                RETURNING 1
            )
            SELECT count(*)::bigint AS recorded FROM inserted WHERE {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id},
            scalar(int),
            copy=Copy(_SETUP, _COPY, _TYPES, _rows(operations)),
        )

    @read
    def heads(self, repository_id: Id, *, viewer_id: Id | None = None) -> Query[OperationHeads]:
        """The operations without children; more than one is concurrent work for jj to merge."""
        return Query(
            f"""
            SELECT {operation_columns("o")}
            FROM jj_operation_heads h
            JOIN jj_operations o ON o.repository_id = h.repository_id
                                AND o.operation_id = h.operation_id
            WHERE h.repository_id = %(repository_id)s AND {readable()}
            ORDER BY o.ended_at DESC, o.operation_id DESC
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id},
            wrapped(Operation, _heads),
        )

    @read
    def log(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Operation]]:
        """The operation log, newest first (by end time), in keyset pages."""
        size = page_size(limit)
        scope = ("jj_operations", repository_id)
        after_at, after_id = _LOG.after(cursor, scope)
        return Query(
            f"""
            SELECT {operation_columns("o")}
            FROM jj_operations o
            WHERE o.repository_id = %(repository_id)s AND {readable()}
              AND (%(after_at)s::timestamptz IS NULL
                   OR (o.ended_at, o.operation_id) < (%(after_at)s, %(after_id)s::text))
            ORDER BY o.ended_at DESC, o.operation_id DESC
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "after_at": after_at,
                "after_id": after_id,
                "limit": size + 1,
            },
            _LOG.page(size, scope),
        )

    @read
    def resolve(
        self, repository_id: Id, prefix: OperationPrefix, *, viewer_id: Id | None = None
    ) -> Query[Operation]:
        """The one operation whose id starts with ``prefix``; ``AmbiguousPrefix`` lists others."""
        return Query(
            f"""
            SELECT {operation_columns("o")}
            FROM jj_operations o
            WHERE o.repository_id = %(repository_id)s AND {readable()}
              AND o.operation_id >= %(prefix)s AND o.operation_id < %(upper)s
            ORDER BY o.operation_id
            LIMIT {CANDIDATES + 1}
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "prefix": prefix,
                "upper": prefix_upper(prefix),
            },
            resolved(Operation, "operation", prefix, "operation_id", "prefix"),
        )

    @read
    def shortest_prefixes(
        self, repository_id: Id, ids: OperationIds, *, viewer_id: Id | None = None
    ) -> Query[list[ShortPrefix]]:
        """The shortest unique prefix of each operation id, in one statement."""
        length = neighbour_length(
            "jj_operations", "operation_id", "n.repository_id = %(repository_id)s", "i.id"
        )
        return Query(
            f"""
            SELECT i.id, {length} AS length
            FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS i (id, position)
            WHERE {readable()}
            ORDER BY i.position
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "ids": ids},
            many(ShortPrefix),
        )
