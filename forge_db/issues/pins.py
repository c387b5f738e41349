"""``db.issues.pins``: up to three issues pinned to the top of a repository's issue list."""

from __future__ import annotations

import builtins
from typing import Annotated

from ..access import gate, guard, readable
from ..errors import register_constraint_messages
from ..inputs import ID_RULE, Id, ListOf
from ..query import Namespace, Query, R, affected, many, read, scalar, write
from .models import IssueSummary
from .sql import ISSUE_FROM, ISSUE_SUMMARY

__all__ = ["Pins"]

register_constraint_messages(
    {
        "pinned_issues_pkey": "the issue is pinned already",
        "pinned_issues_repository_id_position_key": "three issues are pinned already",
        "pinned_issues_position_check": "a repository pins at most three issues",
    }
)

PinOrder = Annotated[list[int], ListOf(ID_RULE, 3, at_least=1, repeats=False)]


class Pins(Namespace[R]):
    """Pinned issues, in position order 1..3 (write role to change)."""

    @write
    def add(self, repository_id: Id, number: Id, *, actor_id: Id) -> Query[int]:
        """Pin ``#number`` in the first free of three slots; return its position."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT i.repository_id, i.id FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
            )
            INSERT INTO pinned_issues (repository_id, issue_id, position)
            SELECT t.repository_id, t.id,
                   coalesce((SELECT min(slot) FROM generate_series(1, 3) AS slot
                             WHERE slot NOT IN (SELECT position FROM pinned_issues
                                                WHERE repository_id = t.repository_id)),
                            raise_error('FDC01', 'a repository pins at most three issues'))
            FROM target t
            RETURNING position
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "number": number},
            scalar(int, f"issue #{number} not found in repository {repository_id}"),
        )

    @write
    def remove(self, repository_id: Id, number: Id, *, actor_id: Id) -> Query[bool]:
        """Unpin ``#number``; the others keep their positions."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            DELETE FROM pinned_issues p USING guard, issues i
            WHERE p.repository_id = guard.id AND i.repository_id = guard.id
              AND i.number = %(number)s AND p.issue_id = i.id AND {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "number": number},
            affected,
        )

    @write
    def reorder(
        self, repository_id: Id, *, actor_id: Id, numbers: PinOrder
    ) -> Query[builtins.list[IssueSummary]]:
        """Set the order of the pinned issues: ``numbers`` lists every pinned issue once."""
        # One UPDATE moves every pin; the deferrable unique position allows swaps.
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            wanted AS (
                SELECT i.id, o.position FROM guard,
                     unnest(%(numbers)s::bigint[]) WITH ORDINALITY AS o(number, position)
                JOIN issues i ON i.number = o.number
                WHERE i.repository_id = guard.id
            ), checked AS (
                SELECT guard.id FROM guard
                WHERE CASE WHEN (SELECT count(*) FROM pinned_issues p
                                 WHERE p.repository_id = guard.id) = cardinality(%(numbers)s::bigint[])
                            AND (SELECT count(*) FROM pinned_issues p JOIN wanted w ON w.id = p.issue_id
                                 WHERE p.repository_id = guard.id)
                                = cardinality(%(numbers)s::bigint[])
                           THEN true
                           ELSE raise_invalid('numbers', 'must list exactly the pinned issues')
                                IS NULL END
            ), moved AS (
                UPDATE pinned_issues p SET position = w.position
                FROM wanted w, checked c
                WHERE p.repository_id = c.id AND p.issue_id = w.id
                RETURNING p.issue_id, p.position
            )
            SELECT {ISSUE_SUMMARY}
            FROM moved m JOIN issues i ON i.id = m.issue_id {ISSUE_FROM}
            ORDER BY m.position
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "numbers": numbers},
            many(IssueSummary),
        )

    @read
    def list(
        self, repository_id: Id, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[IssueSummary]]:
        """The pinned issues in position order."""
        return Query(
            f"""
            SELECT {ISSUE_SUMMARY}
            FROM pinned_issues p JOIN issues i ON i.repository_id = p.repository_id AND i.id = p.issue_id
            {ISSUE_FROM}
            WHERE p.repository_id = %(repository_id)s AND {readable()}
            ORDER BY p.position
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id},
            many(IssueSummary),
        )
