"""``db.issues.assignees``: who works on an issue (at most 10; write role to change)."""

from __future__ import annotations

from ..access import guard, readable
from ..collaboration.fanout import fan_out
from ..errors import InvalidInput
from ..inputs import Id, IdList
from ..query import Namespace, Query, R, one, write
from .models import Issue
from .sql import ISSUE_FROM, detail_columns

__all__ = ["Assignees"]


def _missing(repository_id: int, number: int) -> str:
    return f"issue #{number} not found in repository {repository_id}"


class Assignees(Namespace[R]):
    """Assignees: users who can see the repository; a new assignee is notified."""

    @write
    def add(self, repository_id: Id, number: Id, *, actor_id: Id, user_ids: IdList) -> Query[Issue]:
        """Assign users who can see the repository (at most 10 per issue); they are notified."""
        if not user_ids:
            raise InvalidInput("user_ids must name at least one user", field="user_ids")
        assignees_json = """coalesce((SELECT json_agg(json_build_object('id', u.id,
                            'username', u.username) ORDER BY lower(u.username))
                            FROM users u WHERE u.id IN (SELECT user_id FROM final)), '[]')"""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT i.* FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
            ), eligible AS (
                SELECT u.id FROM users u, guard
                WHERE u.id = ANY(%(user_ids)s::bigint[]) AND u.active
                  AND {readable("guard.id", "u.id")}
            ), checked AS (
                SELECT t.* FROM target t
                WHERE CASE WHEN (SELECT count(*) FROM eligible) < cardinality(%(user_ids)s::bigint[])
                           THEN raise_invalid('user_ids', 'some cannot see this repository')
                                IS NULL
                           ELSE true END
            ), added AS (
                INSERT INTO issue_assignees (repository_id, issue_id, user_id)
                SELECT c.repository_id, c.id, e.id FROM checked c, eligible e
                ON CONFLICT DO NOTHING
                RETURNING user_id
            ), final AS (
                SELECT ia.user_id FROM issue_assignees ia, checked c
                WHERE ia.repository_id = c.repository_id AND ia.issue_id = c.id
                UNION SELECT user_id FROM added
            ), candidates AS (
                SELECT user_id, 'assign' AS reason, 1 AS priority FROM added
            ), {fan_out(subject="checked", candidates="candidates", issue="s.id")},
            touched AS (
                UPDATE issues i SET updated_at = now() FROM checked c WHERE i.id = c.id
                RETURNING i.*
            )
            SELECT {detail_columns(assignees=assignees_json)}
            FROM touched i {ISSUE_FROM}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "number": number,
                "user_ids": user_ids,
            },
            one(Issue, _missing(repository_id, number)),
        )

    @write
    def remove(
        self, repository_id: Id, number: Id, *, actor_id: Id, user_ids: IdList
    ) -> Query[Issue]:
        """Remove assignees."""
        assignees_json = """coalesce((SELECT json_agg(json_build_object('id', u.id,
                            'username', u.username) ORDER BY lower(u.username))
                            FROM issue_assignees ia JOIN users u ON u.id = ia.user_id
                            WHERE ia.repository_id = i.repository_id AND ia.issue_id = i.id
                              AND ia.user_id NOT IN (SELECT user_id FROM removed)), '[]')"""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT i.* FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
            ), removed AS (
                DELETE FROM issue_assignees ia USING target t
                WHERE ia.repository_id = t.repository_id AND ia.issue_id = t.id
                  AND ia.user_id = ANY(%(user_ids)s::bigint[])
                RETURNING ia.user_id
            ), touched AS (
                UPDATE issues i SET updated_at = now() FROM target t WHERE i.id = t.id
                RETURNING i.*
            )
            SELECT {detail_columns(assignees=assignees_json)}
            FROM touched i {ISSUE_FROM}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "number": number,
                "user_ids": user_ids,
            },
            one(Issue, _missing(repository_id, number)),
        )
