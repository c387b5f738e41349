"""``db.issues.links``: dependencies (blocks / blocked by) and subtasks (parent / child).

Both graphs stay acyclic: the schema's triggers refuse a link that would close a cycle
(``Conflict``), even when two links race.
"""

from __future__ import annotations

from typing import Any, Final

from ..access import gate, guard, readable
from ..errors import InvalidInput, register_constraint_messages
from ..inputs import Id
from ..query import Namespace, Query, R, affected, one, read, write
from .models import IssueLinks

__all__ = ["Links"]

register_constraint_messages(
    {
        "issue_dependencies_pkey": "this dependency exists already",
        "issue_dependencies_no_self_check": "an issue cannot block itself",
        "subtasks_pkey": "this subtask link exists already",
        "subtasks_one_parent_key": "the issue is already a subtask of another issue",
        "subtasks_no_self_check": "an issue cannot be its own subtask",
    }
)

# The two issues of a link, by number, in the guarded repository: missing ones raise.
_PAIR: Final = """
    pair AS (
        SELECT coalesce((SELECT id FROM issues WHERE repository_id = guard.id AND number = %(a)s),
                        raise_error('FDN01', 'issue #' || %(a)s::bigint::text || ' not found')) AS a_id,
               coalesce((SELECT id FROM issues WHERE repository_id = guard.id AND number = %(b)s),
                        raise_error('FDN01', 'issue #' || %(b)s::bigint::text || ' not found')) AS b_id,
               guard.id AS repository_id
        FROM guard
    )"""
_REF: Final = (
    "json_build_object('id', x.id, 'number', x.number, 'title', x.title, 'state', x.state)"
)


def _pair(
    repository_id: int, actor_id: int, a: int, b: int, what: str, field: str
) -> dict[str, Any]:
    if a == b:
        raise InvalidInput(f"an issue cannot {what} itself", field=field)
    return {"repository_id": repository_id, "actor_id": actor_id, "a": a, "b": b}


class Links(Namespace[R]):
    """Links between two issues of one repository (write role to change)."""

    @write
    def add_dependency(
        self, repository_id: Id, *, actor_id: Id, blocking: Id, blocked: Id
    ) -> Query[bool]:
        """Issue ``#blocking`` blocks ``#blocked``; a link closing a cycle is a ``Conflict``."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}), {_PAIR}
            INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)
            SELECT repository_id, a_id, b_id FROM pair WHERE {gate("pair")}
            ON CONFLICT DO NOTHING
            """,
            _pair(repository_id, actor_id, blocking, blocked, "block", "blocked"),
            affected,
        )

    @write
    def remove_dependency(
        self, repository_id: Id, *, actor_id: Id, blocking: Id, blocked: Id
    ) -> Query[bool]:
        """Remove a dependency; ``False`` if there was none."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}), {_PAIR}
            DELETE FROM issue_dependencies d USING pair p
            WHERE d.repository_id = p.repository_id AND d.blocking_issue_id = p.a_id
              AND d.blocked_issue_id = p.b_id AND {gate("pair")}
            """,
            _pair(repository_id, actor_id, blocking, blocked, "block", "blocked"),
            affected,
        )

    @write
    def add_subtask(self, repository_id: Id, *, actor_id: Id, parent: Id, child: Id) -> Query[bool]:
        """Make ``#child`` a subtask of ``#parent`` (one parent each, no cycles: ``Conflict``)."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}), {_PAIR}
            INSERT INTO subtasks (repository_id, parent_issue_id, child_issue_id)
            SELECT repository_id, a_id, b_id FROM pair WHERE {gate("pair")}
            ON CONFLICT (repository_id, parent_issue_id, child_issue_id) DO NOTHING
            """,
            _pair(repository_id, actor_id, parent, child, "be a subtask of", "child"),
            affected,
        )

    @write
    def remove_subtask(
        self, repository_id: Id, *, actor_id: Id, parent: Id, child: Id
    ) -> Query[bool]:
        """Detach a subtask from its parent; ``False`` if it was not one."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}), {_PAIR}
            DELETE FROM subtasks s USING pair p
            WHERE s.repository_id = p.repository_id AND s.parent_issue_id = p.a_id
              AND s.child_issue_id = p.b_id AND {gate("pair")}
            """,
            _pair(repository_id, actor_id, parent, child, "be a subtask of", "child"),
            affected,
        )

    @read
    def get(
        self, repository_id: Id, number: Id, *, viewer_id: Id | None = None
    ) -> Query[IssueLinks]:
        """What ``#number`` blocks, what blocks it, its parent and its subtasks."""
        return Query(
            f"""
            SELECT
              coalesce((SELECT json_agg({_REF} ORDER BY x.number) FROM issue_dependencies d
                        JOIN issues x ON x.id = d.blocked_issue_id
                        WHERE d.repository_id = i.repository_id AND d.blocking_issue_id = i.id),
                       '[]') AS blocks,
              coalesce((SELECT json_agg({_REF} ORDER BY x.number) FROM issue_dependencies d
                        JOIN issues x ON x.id = d.blocking_issue_id
                        WHERE d.repository_id = i.repository_id AND d.blocked_issue_id = i.id),
                       '[]') AS blocked_by,
              (SELECT {_REF} FROM subtasks s JOIN issues x ON x.id = s.parent_issue_id
               WHERE s.repository_id = i.repository_id AND s.child_issue_id = i.id) AS parent,
              coalesce((SELECT json_agg({_REF} ORDER BY x.number) FROM subtasks s
                        JOIN issues x ON x.id = s.child_issue_id
                        WHERE s.repository_id = i.repository_id AND s.parent_issue_id = i.id),
                       '[]') AS subtasks
            FROM issues i
            WHERE i.repository_id = %(repository_id)s AND i.number = %(number)s
              AND {readable()}
            """,
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            one(IssueLinks, f"issue #{number} not found in repository {repository_id}"),
        )
