"""``db.repositories.statuses``: commit statuses that CI reports, and a commit's combined status.

Per (repository, commit, context) the latest report wins: ``commit_statuses`` holds it (the
landing queue reads it there), and the ``commit_statuses_keep_history`` trigger appends every
report to ``commit_status_history``. Reads follow the repository's privacy.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Final, Literal

from ..access import guard, readable
from ..errors import register_constraint_messages
from ..inputs import CommitId, Id, RefName, Text
from ..query import Namespace, Query, R, many, one, read, write
from .models import CombinedStatus, CommitStatus

__all__ = ["Statuses"]

register_constraint_messages(
    {"commit_statuses_target_url_check": "target url: http(s), at most 2048 characters"},
)

Context = Annotated[str, Text(255, min_length=1, controls=False, sample="ci/test")]
"""The name of a check, as protection rules require it (``ci/test``)."""
StatusDescription = Annotated[str, Text(1024, controls=False, sample="")]
TargetUrl = Annotated[
    str,
    Text(
        2048,
        min_length=8,
        pattern=r"https?://[^\s\x00-\x1f\x7f]+",
        explain="must be an http(s) URL without spaces",
        sample="https://ci.example/1",
    ),
]
State = Literal["pending", "success", "failure", "error"]

_COLUMNS: Final = (
    "id, repository_id, commit_id, context, state, description, target_url, creator_id, created_at"
)


def _columns(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in _COLUMNS.split(", "))


class Statuses(Namespace[R]):
    """Report a status (write), the latest per context, their history, the combined status."""

    @write
    def set(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        commit_id: CommitId,
        context: Context,
        state: State,
        description: StatusDescription = "",
        target_url: TargetUrl | None = None,
    ) -> Query[CommitStatus]:
        """Report ``state`` for ``context`` of a commit (write): it replaces the context's
        previous status, which stays in the history."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            INSERT INTO commit_statuses (repository_id, commit_id, context, state, description,
                                         target_url, creator_id)
            SELECT id, %(commit_id)s, %(context)s, %(state)s, %(description)s, %(target_url)s,
                   %(actor_id)s
            FROM guard
            ON CONFLICT (repository_id, commit_id, context) DO UPDATE SET
                state = EXCLUDED.state, description = EXCLUDED.description,
                target_url = EXCLUDED.target_url, creator_id = EXCLUDED.creator_id,
                created_at = now()
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "commit_id": commit_id,
                "context": context,
                "state": state,
                "description": description,
                "target_url": target_url,
            },
            one(CommitStatus, f"repository {repository_id} not found"),
        )

    @read
    def list(
        self, repository_id: Id, commit_id: CommitId, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[CommitStatus]]:
        """The latest status of each context of a commit, by context."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM commit_statuses
            WHERE repository_id = %(repository_id)s AND commit_id = %(commit_id)s
              AND {readable()}
            ORDER BY context
            """,
            {"repository_id": repository_id, "commit_id": commit_id, "viewer_id": viewer_id},
            many(CommitStatus),
        )

    @read
    def history(
        self,
        repository_id: Id,
        commit_id: CommitId,
        *,
        context: Context | None = None,
        viewer_id: Id | None = None,
    ) -> Query[builtins.list[CommitStatus]]:
        """Every status reported for a commit (one context when given), newest first (1000)."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM commit_status_history
            WHERE repository_id = %(repository_id)s AND commit_id = %(commit_id)s
              AND (%(context)s::text IS NULL OR context = %(context)s)
              AND {readable()}
            ORDER BY id DESC
            LIMIT 1000
            """,
            {
                "repository_id": repository_id,
                "commit_id": commit_id,
                "context": context,
                "viewer_id": viewer_id,
            },
            many(CommitStatus),
        )

    @read
    def combined(
        self,
        repository_id: Id,
        commit_id: CommitId,
        *,
        bookmark: RefName | None = None,
        viewer_id: Id | None = None,
    ) -> Query[CombinedStatus]:
        """The commit's combined status (GitHub's rule) and, for ``bookmark``, the contexts its
        protection rules require and those that have not reported."""
        return Query(
            f"""
            WITH repo AS (
                SELECT r.id FROM repositories r
                WHERE r.id = %(repository_id)s AND {readable("r.id")}
            ), latest AS (
                SELECT {_columns("s")} FROM commit_statuses s JOIN repo ON repo.id = s.repository_id
                WHERE s.commit_id = %(commit_id)s
            ), required AS (
                SELECT unnest(p.required_contexts) AS context
                FROM repo, protection_requirements(repo.id, %(bookmark)s) p
            )
            SELECT %(commit_id)s::text AS commit_id,
                   CASE WHEN EXISTS (SELECT FROM latest WHERE state IN ('failure', 'error'))
                            THEN 'failure'
                        WHEN EXISTS (SELECT FROM latest WHERE state = 'pending')
                             OR NOT EXISTS (SELECT FROM latest) THEN 'pending'
                        ELSE 'success' END AS state,
                   (SELECT count(*) FROM latest)::int AS total_count,
                   coalesce((SELECT jsonb_agg(to_jsonb(l) ORDER BY l.context) FROM latest l),
                            '[]') AS statuses,
                   coalesce((SELECT array_agg(q.context ORDER BY q.context) FROM required q),
                            '{{}}') AS required_contexts,
                   coalesce((SELECT array_agg(q.context ORDER BY q.context) FROM required q
                             WHERE NOT EXISTS (SELECT FROM latest l
                                               WHERE l.context = q.context)),
                            '{{}}') AS missing_contexts
            FROM repo
            """,
            {
                "repository_id": repository_id,
                "commit_id": commit_id,
                "bookmark": bookmark,
                "viewer_id": viewer_id,
            },
            one(CombinedStatus, f"repository {repository_id} not found"),
        )
