"""Links between issues: dependencies, subtasks, and the pinned few."""

from __future__ import annotations

from typing import Final

from .. import validation
from ..access import WRITE, guard
from ..errors import InvalidInput, register_constraint_messages
from ..query import Namespace, Query, R, affected, many, one, operation, scalar
from .models import IssueLinks, IssueSummary
from .sql import ISSUE_FROM, ISSUE_SUMMARY

__all__ = ["IssueGraph"]

register_constraint_messages(
    {
        "issue_dependencies_pkey": "this dependency exists already",
        "issue_dependencies_no_self_check": "an issue cannot block itself",
        "subtasks_pkey": "this subtask link exists already",
        "subtasks_one_parent_key": "the issue is already a subtask of another issue",
        "subtasks_no_self_check": "an issue cannot be its own subtask",
        "pinned_issues_pkey": "the issue is pinned already",
        "pinned_issues_repository_id_position_key": "three issues are pinned already",
        "pinned_issues_position_check": "a repository pins at most three issues",
    }
)

_WRITER: Final = guard(WRITE)
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


def _pair(repository_id: int, actor_id: int, a: int, b: int, what: str) -> dict[str, int]:
    params = {
        "repository_id": validation.identifier(repository_id, "repository_id"),
        "actor": validation.identifier(actor_id, "actor_id"),
        "a": validation.identifier(a, "number"),
        "b": validation.identifier(b, "number"),
    }
    if a == b:
        raise InvalidInput(f"an issue cannot {what} itself", field="number")
    return params


class IssueGraph(Namespace[R]):
    """Dependencies (blocks / blocked by), subtasks (parent / child) and pins."""

    __slots__ = ()

    @operation
    def add_dependency(
        self, repository_id: int, *, actor_id: int, blocking: int, blocked: int
    ) -> Query[bool]:
        """Issue ``#blocking`` blocks ``#blocked``; a link closing a cycle is a ``Conflict``."""
        return Query(
            f"""
            WITH guard AS ({_WRITER}), {_PAIR}
            INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)
            SELECT repository_id, a_id, b_id FROM pair
            ON CONFLICT DO NOTHING
            """,
            _pair(repository_id, actor_id, blocking, blocked, "block"),
            affected,
        )

    @operation
    def remove_dependency(
        self, repository_id: int, *, actor_id: int, blocking: int, blocked: int
    ) -> Query[bool]:
        """Remove a dependency; ``False`` if there was none."""
        return Query(
            f"""
            WITH guard AS ({_WRITER}), {_PAIR}
            DELETE FROM issue_dependencies d USING pair p
            WHERE d.repository_id = p.repository_id AND d.blocking_issue_id = p.a_id
              AND d.blocked_issue_id = p.b_id
            """,
            _pair(repository_id, actor_id, blocking, blocked, "block"),
            affected,
        )

    @operation
    def add_subtask(
        self, repository_id: int, *, actor_id: int, parent: int, child: int
    ) -> Query[bool]:
        """Make ``#child`` a subtask of ``#parent`` (one parent each, no cycles: ``Conflict``)."""
        return Query(
            f"""
            WITH guard AS ({_WRITER}), {_PAIR}
            INSERT INTO subtasks (repository_id, parent_issue_id, child_issue_id)
            SELECT repository_id, a_id, b_id FROM pair
            ON CONFLICT (repository_id, parent_issue_id, child_issue_id) DO NOTHING
            """,
            _pair(repository_id, actor_id, parent, child, "be a subtask of"),
            affected,
        )

    @operation
    def remove_subtask(
        self, repository_id: int, *, actor_id: int, parent: int, child: int
    ) -> Query[bool]:
        """Detach a subtask from its parent; ``False`` if it was not one."""
        return Query(
            f"""
            WITH guard AS ({_WRITER}), {_PAIR}
            DELETE FROM subtasks s USING pair p
            WHERE s.repository_id = p.repository_id AND s.parent_issue_id = p.a_id
              AND s.child_issue_id = p.b_id
            """,
            _pair(repository_id, actor_id, parent, child, "be a subtask of"),
            affected,
        )

    @operation
    def links(
        self, repository_id: int, number: int, *, viewer_id: int | None = None
    ) -> Query[IssueLinks]:
        """What ``#number`` blocks, what blocks it, its parent and its subtasks."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "viewer": None if viewer_id is None else validation.identifier(viewer_id, "viewer_id"),
        }
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
              AND can_read_repository(%(repository_id)s, %(viewer)s)
            """,
            params,
            one(IssueLinks, f"issue #{number} not found in repository {repository_id}"),
        )

    # --- pins -------------------------------------------------------------------------------

    @operation
    def pin(self, repository_id: int, number: int, *, actor_id: int) -> Query[int]:
        """Pin ``#number`` in the first free of three slots; return its position."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "number": validation.identifier(number, "number"),
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
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
            params,
            scalar(int, f"issue #{number} not found in repository {repository_id}"),
        )

    @operation
    def unpin(self, repository_id: int, number: int, *, actor_id: int) -> Query[bool]:
        """Unpin ``#number``; the others keep their positions."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "number": validation.identifier(number, "number"),
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER})
            DELETE FROM pinned_issues p USING guard, issues i
            WHERE p.repository_id = guard.id AND i.repository_id = guard.id
              AND i.number = %(number)s AND p.issue_id = i.id
            """,
            params,
            affected,
        )

    @operation
    def reorder_pins(
        self, repository_id: int, *, actor_id: int, numbers: list[int]
    ) -> Query[list[IssueSummary]]:
        """Set the order of the pinned issues: ``numbers`` lists every pinned issue once."""
        order = [validation.identifier(n, "numbers") for n in numbers]
        if len(set(order)) != len(order) or not 1 <= len(order) <= 3:
            raise InvalidInput("numbers must list the pinned issues once each", field="numbers")
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "numbers": order,
        }
        # One UPDATE moves every pin; the deferrable unique position allows swaps.
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
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
                           ELSE raise_error('FDI01', 'numbers must list exactly the pinned issues')
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
            params,
            many(IssueSummary),
        )

    @operation
    def list_pinned(
        self, repository_id: int, *, viewer_id: int | None = None
    ) -> Query[list[IssueSummary]]:
        """The pinned issues in position order."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "viewer": None if viewer_id is None else validation.identifier(viewer_id, "viewer_id"),
        }
        return Query(
            f"""
            SELECT {ISSUE_SUMMARY}
            FROM pinned_issues p JOIN issues i ON i.repository_id = p.repository_id AND i.id = p.issue_id
            {ISSUE_FROM}
            WHERE p.repository_id = %(repository_id)s
              AND can_read_repository(%(repository_id)s, %(viewer)s)
            ORDER BY p.position
            """,
            params,
            many(IssueSummary),
        )
