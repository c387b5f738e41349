"""``db.collaboration.reactions``: emoji reactions on issues and comments."""

from __future__ import annotations

from ..access import guard
from ..errors import InvalidInput
from ..inputs import Id
from ..query import Namespace, Query, R, scalar, write
from .models import Emoji

__all__ = ["Reactions"]


class Reactions(Namespace[R]):
    """Reactions: one per user, target and emoji, from a fixed vocabulary."""

    @write
    def toggle(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        emoji: Emoji,
        issue_number: Id | None = None,
        comment_id: Id | None = None,
    ) -> Query[bool]:
        """Add the actor's ``emoji`` to an issue or a comment, or take it back; ``True`` if added.

        Anyone who can read the repository may react; on a locked issue only writers may.
        """
        if (issue_number is None) == (comment_id is None):
            raise InvalidInput(
                "react to an issue_number or a comment_id, not both", field="issue_number"
            )
        return Query(
            f"""
            WITH guard AS (
                {guard("read")}
            ), target AS (
                SELECT i.repository_id,
                       CASE WHEN %(comment_id)s::bigint IS NULL THEN i.id END AS issue_id,
                       c.id AS comment_id
                FROM guard
                JOIN issues i ON i.repository_id = guard.id
                LEFT JOIN comments c ON c.repository_id = guard.id AND c.id = %(comment_id)s
                                    AND c.deleted_at IS NULL
                WHERE (i.number = %(issue_number)s OR (c.id IS NOT NULL AND i.id = c.issue_id))
                  AND require_open_conversation(guard.id, %(actor_id)s, i.locked)
            ), removed AS (
                DELETE FROM reactions x USING target t
                WHERE x.repository_id = t.repository_id AND x.user_id = %(actor_id)s
                  AND x.emoji = %(emoji)s
                  AND x.issue_id IS NOT DISTINCT FROM t.issue_id
                  AND x.comment_id IS NOT DISTINCT FROM t.comment_id
                RETURNING x.id
            ), added AS (
                INSERT INTO reactions (repository_id, issue_id, comment_id, user_id, emoji)
                SELECT repository_id, issue_id, comment_id, %(actor_id)s, %(emoji)s FROM target
                WHERE NOT EXISTS (SELECT 1 FROM removed)
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            SELECT EXISTS (SELECT 1 FROM added) FROM target
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "emoji": emoji,
                "issue_number": issue_number,
                "comment_id": comment_id,
            },
            scalar(bool, "the issue or comment to react to was not found"),
        )
