"""``db.issues.milestones``: milestones with their progress, and the milestone of an issue."""

from __future__ import annotations

import builtins
from typing import Annotated, Final, Literal

from ..access import guard, readable
from ..errors import register_constraint_messages
from ..inputs import Body, Day, Id, Text
from ..query import Namespace, Query, R, many, one, read, write
from .models import Issue, Milestone
from .sql import ISSUE_FROM, detail_columns

__all__ = ["Milestones"]

register_constraint_messages(
    {"milestones_repository_id_title_lower_key": "a milestone with this title"}
)

MilestoneTitle = Annotated[str, Text(256, min_length=1, strip=True, sample="v1")]

_COLUMNS: Final = """
    m.id, m.repository_id, m.title, m.description, m.state, m.due_on, m.closed_at,
    (SELECT count(*) FROM issues i WHERE i.repository_id = m.repository_id
        AND i.milestone_id = m.id AND i.state = 'open') AS open_issues,
    (SELECT count(*) FROM issues i WHERE i.repository_id = m.repository_id
        AND i.milestone_id = m.id AND i.state = 'closed') AS closed_issues,
    m.created_at"""


class Milestones(Namespace[R]):
    """Milestones (write role to change), readable by anyone who can read the repository."""

    @write
    def create(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        title: MilestoneTitle,
        description: Body = "",
        due_on: Day | None = None,
    ) -> Query[Milestone]:
        """A new open milestone."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            created AS (
                INSERT INTO milestones (repository_id, title, description, due_on)
                SELECT id, %(title)s, %(description)s, %(due_on)s FROM guard
                RETURNING *
            )
            SELECT m.id, m.repository_id, m.title, m.description, m.state, m.due_on, m.closed_at,
                   0::bigint AS open_issues, 0::bigint AS closed_issues, m.created_at
            FROM created m
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "title": title,
                "description": description,
                "due_on": due_on,
            },
            one(Milestone, "milestone not created"),
        )

    @write
    def set_state(
        self,
        repository_id: Id,
        milestone_id: Id,
        *,
        actor_id: Id,
        state: Literal["open", "closed"],
    ) -> Query[Milestone]:
        """Close or reopen a milestone."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            changed AS (
                UPDATE milestones m SET state = %(state)s,
                    closed_at = CASE WHEN %(state)s = 'closed' THEN coalesce(m.closed_at, now()) END
                FROM guard WHERE m.repository_id = guard.id AND m.id = %(milestone_id)s
                RETURNING m.*
            )
            SELECT {_COLUMNS} FROM changed m
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "milestone_id": milestone_id,
                "state": state,
            },
            one(Milestone, f"milestone {milestone_id} not found in repository {repository_id}"),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        state: Literal["open", "closed", "all"] = "open",
    ) -> Query[builtins.list[Milestone]]:
        """Milestones with their progress, soonest due first."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM milestones m
            WHERE m.repository_id = %(repository_id)s
              AND (%(state)s = 'all' OR m.state = %(state)s)
              AND {readable()}
            ORDER BY m.due_on NULLS LAST, m.id
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "state": state},
            many(Milestone),
        )

    @write
    def set_on_issue(
        self, repository_id: Id, number: Id, *, actor_id: Id, milestone_id: Id | None
    ) -> Query[Issue]:
        """Put issue ``#number`` in a milestone of its repository (``None``: in none)."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                UPDATE issues i SET milestone_id = %(milestone_id)s FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                RETURNING i.*
            )
            SELECT {detail_columns()} FROM target i {ISSUE_FROM}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "number": number,
                "milestone_id": milestone_id,
            },
            one(Issue, f"issue #{number} not found in repository {repository_id}"),
        )
