"""``db.jj.changes``: changes and their commits: record, resolve, evolution log, short prefixes.

One row per commit; a change id with several visible commits is divergent (jj's ``??``). A
commit named as the predecessor of a recorded commit was rewritten: the database hides it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from ..access import gate, guard, readable
from ..errors import AmbiguousPrefix, NotFound, register_constraint_messages
from ..inputs import CommitId, CommitIds, Id
from ..query import (
    Copy,
    Namespace,
    Query,
    R,
    Result,
    Shape,
    many,
    model_columns,
    read,
    rowcount,
    scalar,
    write,
)
from .ids import ChangePrefix, CommitPrefix, PrefixIds, prefix_upper
from .models import ChangeResolution, Commit, CommitRecord, CommitRecords, ShortPrefix
from .sql import CANDIDATES, commit_columns, neighbour_length, resolved, wrapped

__all__ = ["Changes"]

register_constraint_messages(
    {
        "changes_repository_id_commit_id_key": "a commit with this id",
        "changes_description_check": "commit description: at most 1 MiB",
    }
)

_MAX_EVOLUTION: Final = 10_000
_STAGE: Final = "pg_temp.jj_commit_stage"
_FIELDS: Final = (
    "change_id", "commit_id", "parent_commit_ids", "predecessor_commit_ids", "author_name",
    "author_email", "committer_name", "committer_email", "description", "authored_at",
    "committed_at", "empty", "conflict", "hidden",
)  # fmt: skip
_TYPES: Final = (
    "text", "text", "text[]", "text[]", "text", "text", "text", "text", "text", "timestamptz",
    "timestamptz", "bool", "bool", "bool",
)  # fmt: skip
_SETUP: Final = f"""
    CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
        change_id text, commit_id text, parent_commit_ids text[], predecessor_commit_ids text[],
        author_name text, author_email text, committer_name text, committer_email text,
        description text, authored_at timestamptz, committed_at timestamptz, empty boolean,
        conflict boolean, hidden boolean
    ) ON COMMIT DROP
"""
_COPY: Final = f"""
    COPY {_STAGE} (change_id, commit_id, parent_commit_ids, predecessor_commit_ids, author_name,
                   author_email, committer_name, committer_email, description, authored_at,
                   committed_at, empty, conflict, hidden) FROM STDIN (FORMAT BINARY)
"""


def _rows(records: Sequence[CommitRecord]) -> Iterator[tuple[Any, ...]]:
    for r in records:
        yield (
            r.change_id,
            r.commit_id,
            r.parent_commit_ids,
            r.predecessor_commit_ids,
            r.author_name,
            r.author_email,
            r.committer_name,
            r.committer_email,
            r.description,
            r.authored_at,
            r.committed_at,
            r.empty,
            r.conflict,
            r.hidden,
        )


def _resolution(prefix: str) -> Shape[ChangeResolution]:
    """The rows of a change resolution: candidate change ids, and one change's commits."""
    commits = many(Commit)

    def convert(result: Result) -> ChangeResolution:
        position = result.columns.index("candidate")
        candidates = list(dict.fromkeys(row[position] for row in result.rows))
        if not candidates:
            raise NotFound(f'no change id starts with "{prefix}"')
        if len(candidates) > 1:
            shown = ", ".join(c[: len(prefix) + 4] for c in candidates[:CANDIDATES])
            more = " and more" if len(candidates) > CANDIDATES else ""
            raise AmbiguousPrefix(
                f'change id prefix "{prefix}" is ambiguous: {shown}{more}',
                field="prefix",
                candidates=candidates[:CANDIDATES],
            )
        rows = [row[:position] + row[position + 1 :] for row in result.rows]
        columns = result.columns[:position] + result.columns[position + 1 :]
        found = commits.convert(Result(rows, columns, len(rows)))
        visible = [c for c in found if not c.hidden]
        return ChangeResolution(
            change_id=candidates[0],
            commits=visible or found,
            divergent=len(visible) > 1,
            hidden=not visible,
        )

    return Shape(convert, {**model_columns(Commit), "candidate": str})


def _evolution(commits: list[Commit]) -> list[Commit]:
    if not commits:
        raise NotFound("commit not found")
    return commits


class Changes(Namespace[R]):
    """Commits of changes, as jj's commit index knows them (write role to record)."""

    @write
    def record(self, repository_id: Id, commits: CommitRecords, *, actor_id: Id) -> Query[int]:
        """Record commits in bulk (idempotent by commit id); how many were new."""
        columns = ", ".join(_FIELDS)
        staged = ", ".join(f"s.{f}" for f in _FIELDS)
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            staged AS (DELETE FROM {_STAGE} RETURNING *),
            inserted AS (
                INSERT INTO changes (repository_id, {columns})
                SELECT guard.id, {staged} FROM staged s CROSS JOIN guard
                ON CONFLICT (repository_id, commit_id) DO NOTHING
                RETURNING 1
            )
            SELECT count(*)::bigint AS recorded FROM inserted WHERE {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id},
            scalar(int),
            copy=Copy(_SETUP, _COPY, _TYPES, _rows(commits)),
        )

    @write
    def abandon(self, repository_id: Id, commit_ids: CommitIds, *, actor_id: Id) -> Query[int]:
        """Hide commits (``jj abandon``); how many were visible before."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            UPDATE changes c SET hidden = true FROM guard
            WHERE c.repository_id = guard.id AND c.commit_id = ANY (%(commit_ids)s::text[])
              AND NOT c.hidden AND {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "commit_ids": commit_ids},
            rowcount,
        )

    @read
    def resolve_change(
        self, repository_id: Id, prefix: ChangePrefix, *, viewer_id: Id | None = None
    ) -> Query[ChangeResolution]:
        """The change a prefix names: its visible commits (several: divergent), or hidden ones."""
        return Query(
            f"""
            WITH candidates AS (
                SELECT DISTINCT c.change_id FROM changes c
                WHERE c.repository_id = %(repository_id)s AND {readable()}
                  AND c.change_id >= %(prefix)s AND c.change_id < %(upper)s
                ORDER BY c.change_id
                LIMIT {CANDIDATES + 1}
            )
            SELECT {commit_columns("c")}, k.change_id AS candidate
            FROM candidates k
            LEFT JOIN changes c ON (SELECT count(*) FROM candidates) = 1
                               AND c.repository_id = %(repository_id)s
                               AND c.change_id = k.change_id
            ORDER BY k.change_id, c.committed_at DESC, c.commit_id
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "prefix": prefix,
                "upper": prefix_upper(prefix),
            },
            _resolution(prefix),
        )

    @read
    def resolve_commit(
        self, repository_id: Id, prefix: CommitPrefix, *, viewer_id: Id | None = None
    ) -> Query[Commit]:
        """The one commit whose id starts with ``prefix`` (hidden ones too, marked hidden)."""
        return Query(
            f"""
            SELECT {commit_columns("c")}
            FROM changes c
            WHERE c.repository_id = %(repository_id)s AND {readable()}
              AND c.commit_id >= %(prefix)s AND c.commit_id < %(upper)s
            ORDER BY c.commit_id
            LIMIT {CANDIDATES + 1}
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "prefix": prefix,
                "upper": prefix_upper(prefix),
            },
            resolved(Commit, "commit", prefix, "commit_id", "prefix"),
        )

    @read
    def evolog(
        self, repository_id: Id, commit_id: CommitId, *, viewer_id: Id | None = None
    ) -> Query[list[Commit]]:
        """The evolution of a commit: it, then what it rewrote, following predecessors."""
        return Query(
            f"""
            WITH RECURSIVE evolution (commit_id, depth) AS (
                SELECT c.commit_id, 0 FROM changes c
                WHERE c.repository_id = %(repository_id)s AND c.commit_id = %(commit_id)s
                  AND {readable()}
                UNION
                SELECT p.commit_id, e.depth + 1
                FROM evolution e
                JOIN changes c ON c.repository_id = %(repository_id)s
                              AND c.commit_id = e.commit_id
                CROSS JOIN LATERAL unnest(c.predecessor_commit_ids) AS p (commit_id)
                WHERE e.depth < {_MAX_EVOLUTION}
            ),
            nearest AS (SELECT commit_id, min(depth) AS depth FROM evolution GROUP BY commit_id)
            SELECT {commit_columns("c")}
            FROM nearest n
            JOIN changes c ON c.repository_id = %(repository_id)s AND c.commit_id = n.commit_id
            ORDER BY n.depth, c.committed_at DESC, c.commit_id
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "commit_id": commit_id},
            wrapped(Commit, _evolution),
        )

    @read
    def shortest_prefixes(
        self, repository_id: Id, ids: PrefixIds, *, viewer_id: Id | None = None
    ) -> Query[list[ShortPrefix]]:
        """The shortest unique prefix of each change or commit id, in one statement."""
        scope = "n.repository_id = %(repository_id)s"
        change = neighbour_length("changes", "change_id", scope, "i.id")
        commit = neighbour_length("changes", "commit_id", scope, "i.id")
        return Query(
            f"""
            SELECT i.id, CASE WHEN i.id ~ '^[k-z]' THEN {change} ELSE {commit} END AS length
            FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS i (id, position)
            WHERE {readable()}
            ORDER BY i.position
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "ids": ids},
            many(ShortPrefix),
        )
