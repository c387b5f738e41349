"""``db.issues.comments``: the conversation of an issue: add, edit, delete (a tombstone stays)."""

from __future__ import annotations

from typing import Annotated, Final

from ..access import author_or_role, guard, readable
from ..collaboration.fanout import fan_out
from ..errors import register_constraint_messages
from ..inputs import Cursor, Id, Limit, Text
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, one, read, write
from ..text import extract_mentions
from .models import Comment
from .sql import reactions_of

__all__ = ["Comments"]

register_constraint_messages(
    {
        "comments_body_check": "comment: at most 65536 characters",
        "comments_tombstone_check": "comment must not be blank",
    }
)


def _not_blank(body: str) -> str:
    if not body.strip():
        raise ValueError("must not be blank")
    return body


CommentBody = Annotated[str, Text(65536, min_length=1, refine=_not_blank, sample="comment")]

_ORDER: Final = Keyset(Comment, "created_at", "id")
_COLUMNS: Final = f"""
    c.id, c.repository_id, c.issue_id, c.author_id, au.username AS author, c.body, c.edited_at,
    c.deleted_at, c.created_at, c.updated_at, {reactions_of("c", "comment_id")} AS reactions"""


def _missing(repository_id: int, comment_id: int) -> str:
    return f"comment {comment_id} not found in repository {repository_id}"


_CREATE: Final = f"""
            WITH guard AS (
                {guard("read")}
            ), target AS (
                SELECT i.repository_id, i.id, i.author_id FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                  AND require_open_conversation(guard.id, %(actor_id)s, i.locked)
            ), created AS (
                INSERT INTO comments (repository_id, issue_id, author_id, body)
                SELECT repository_id, id, %(actor_id)s, %(body)s FROM target
                RETURNING *
            ), mentioned AS (
                INSERT INTO mentions (repository_id, issue_id, comment_id, mentioned_user_id)
                SELECT c.repository_id, c.issue_id, c.id, u.id FROM created c
                JOIN users u ON lower(u.username) = ANY(%(mentions)s::text[])
                RETURNING mentioned_user_id
            ), candidates AS (
                SELECT mentioned_user_id AS user_id, 'mention' AS reason, 1 AS priority
                FROM mentioned
                UNION ALL
                SELECT ia.user_id, 'assign', 2 FROM issue_assignees ia, target t
                WHERE ia.repository_id = t.repository_id AND ia.issue_id = t.id
                UNION ALL
                SELECT t.author_id, 'author', 3 FROM target t WHERE t.author_id IS NOT NULL
                UNION ALL
                SELECT DISTINCT cm.author_id, 'comment', 4 FROM comments cm, target t
                WHERE cm.repository_id = t.repository_id AND cm.issue_id = t.id
                  AND cm.author_id IS NOT NULL AND cm.deleted_at IS NULL
                UNION ALL
                SELECT w.user_id, 'subscribed', 5 FROM watches w, target t
                WHERE w.repository_id = t.repository_id AND w.level = 'watching'
            ), {fan_out(subject="created", candidates="candidates", issue="s.issue_id", comment="s.id")}
            SELECT c.id, c.repository_id, c.issue_id, c.author_id, au.username AS author, c.body,
                   c.edited_at, c.deleted_at, c.created_at, c.updated_at, '{{}}'::json AS reactions
            FROM created c LEFT JOIN users au ON au.id = c.author_id
            """


class Comments(Namespace[R]):
    """Comments on issues; a locked issue takes comments from writers only."""

    @write
    def create(
        self, repository_id: Id, number: Id, *, actor_id: Id, body: CommentBody
    ) -> Query[Comment]:
        """Comment on issue ``#number`` (anyone who can read; only writers if it is locked).

        In the same statement: ``@mentions`` are recorded, and the issue's participants (its
        author, assignees, earlier commenters), the mentioned users and the repository's
        watchers are notified, if they can read the repository.
        """
        return Query(
            _CREATE,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "body": body,
                "mentions": extract_mentions(body),
            },
            one(Comment, f"issue #{number} not found in repository {repository_id}"),
        )

    @write
    def update(
        self, repository_id: Id, comment_id: Id, *, actor_id: Id, body: CommentBody
    ) -> Query[Comment]:
        """Change a comment's text (its author, or a writer); newly mentioned users are told."""
        return Query(
            f"""
            WITH guard AS (
                {guard("read")}
            ), edited AS (
                UPDATE comments c SET body = %(body)s, edited_at = now() FROM guard
                WHERE c.repository_id = guard.id AND c.id = %(comment_id)s
                  AND c.deleted_at IS NULL AND {author_or_role("c", "edit a comment")}
                RETURNING c.*
            ), previously AS (
                SELECT m.mentioned_user_id FROM mentions m, edited e
                WHERE m.repository_id = e.repository_id AND m.comment_id = e.id
            ), mentioned AS (
                INSERT INTO mentions (repository_id, issue_id, comment_id, mentioned_user_id)
                SELECT e.repository_id, e.issue_id, e.id, u.id FROM edited e
                JOIN users u ON lower(u.username) = ANY(%(mentions)s::text[])
                ON CONFLICT DO NOTHING
                RETURNING mentioned_user_id
            ), unmentioned AS (
                DELETE FROM mentions m USING edited e, users u
                WHERE m.repository_id = e.repository_id AND m.comment_id = e.id
                  AND u.id = m.mentioned_user_id
                  AND NOT lower(u.username) = ANY(%(mentions)s::text[])
            ), candidates AS (
                SELECT mentioned_user_id AS user_id, 'mention' AS reason, 1 AS priority
                FROM mentioned
                WHERE mentioned_user_id NOT IN (SELECT mentioned_user_id FROM previously)
            ), {fan_out(subject="edited", candidates="candidates", issue="s.issue_id", comment="s.id")}
            SELECT {_COLUMNS}
            FROM edited c LEFT JOIN users au ON au.id = c.author_id
            """,
            {
                "repository_id": repository_id,
                "comment_id": comment_id,
                "actor_id": actor_id,
                "body": body,
                "mentions": extract_mentions(body),
            },
            one(Comment, _missing(repository_id, comment_id)),
        )

    @write
    def delete(self, repository_id: Id, comment_id: Id, *, actor_id: Id) -> Query[Comment]:
        """Delete a comment (its author, or a writer): a tombstone keeps its place in the thread."""
        return Query(
            f"""
            WITH guard AS (
                {guard("read")}
            ), deleted AS (
                UPDATE comments c SET body = '', deleted_at = now() FROM guard
                WHERE c.repository_id = guard.id AND c.id = %(comment_id)s
                  AND c.deleted_at IS NULL AND {author_or_role("c", "delete a comment")}
                RETURNING c.*
            ), forgotten AS (
                DELETE FROM mentions m USING deleted d
                WHERE m.repository_id = d.repository_id AND m.comment_id = d.id
            )
            SELECT {_COLUMNS}
            FROM deleted c LEFT JOIN users au ON au.id = c.author_id
            """,
            {"repository_id": repository_id, "comment_id": comment_id, "actor_id": actor_id},
            one(Comment, _missing(repository_id, comment_id)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        number: Id,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Comment]]:
        """The conversation of issue ``#number``, oldest first, tombstones included."""
        size = page_size(limit)
        scope = ("comments", repository_id, number)
        after_at, after_id = _ORDER.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS}
            FROM comments c LEFT JOIN users au ON au.id = c.author_id
            WHERE c.repository_id = %(repository_id)s
              AND c.issue_id = (SELECT id FROM issues
                                WHERE repository_id = %(repository_id)s AND number = %(number)s)
              AND {readable()}
              AND (%(after_at)s::timestamptz IS NULL
                   OR (c.created_at, c.id) > (%(after_at)s, %(after_id)s))
            ORDER BY c.created_at, c.id
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "number": number,
                "viewer_id": viewer_id,
                "after_at": after_at,
                "after_id": after_id,
                "limit": size + 1,
            },
            _ORDER.page(size, scope),
        )

    @read
    def get(
        self, repository_id: Id, comment_id: Id, *, viewer_id: Id | None = None
    ) -> Query[Comment]:
        """One comment with its reaction counts, if its repository is visible."""
        return Query(
            f"""
            SELECT {_COLUMNS}
            FROM comments c LEFT JOIN users au ON au.id = c.author_id
            WHERE c.repository_id = %(repository_id)s AND c.id = %(comment_id)s
              AND {readable()}
            """,
            {"repository_id": repository_id, "comment_id": comment_id, "viewer_id": viewer_id},
            one(Comment, _missing(repository_id, comment_id)),
        )
