"""Comments on issues: add, edit, delete (a tombstone stays), list."""

from __future__ import annotations

from typing import Final

from .. import validation
from ..access import READ, guard
from ..errors import InvalidInput, register_constraint_messages
from ..pagination import Page, decode_cursor, page_size, paged
from ..query import Namespace, Query, R, one, operation
from ..text import extract_mentions
from .models import Comment
from .sql import FANOUT, REACTIONS_OF_COMMENT, author_or_writer

__all__ = ["IssueComments"]

register_constraint_messages(
    {
        "comments_body_check": "comment: at most 65536 characters",
        "comments_tombstone_check": "comment must not be blank",
    }
)

_COMMENT: Final = f"""
    c.id, c.repository_id, c.issue_id, c.author_id, au.username AS author, c.body, c.edited_at,
    c.deleted_at, c.created_at, c.updated_at, {REACTIONS_OF_COMMENT} AS reactions"""


def _body(value: object) -> str:
    body = validation.text(value, "body", max_length=65536)
    if not body.strip():
        raise InvalidInput("body must not be blank", field="body")
    return body


class IssueComments(Namespace[R]):
    """The conversation of an issue."""

    __slots__ = ()

    @operation
    def add_comment(
        self, repository_id: int, number: int, *, author_id: int, body: str
    ) -> Query[Comment]:
        """Comment on issue ``#number``; a locked issue takes comments from writers only.

        In the same statement: ``@mentions`` are recorded, and the issue's participants (its
        author, assignees, earlier commenters), the mentioned users and the repository's
        watchers are notified, if they can read the repository.
        """
        clean = _body(body)
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "actor": validation.identifier(author_id, "author_id"),
            "body": clean,
            "mentions": extract_mentions(clean),
            "comment_id": None,
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ)}
            ), target AS (
                SELECT i.repository_id, i.id, i.author_id FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                  AND CASE WHEN NOT i.locked
                                OR repository_access_level(guard.id, %(actor)s) >= 2
                           THEN true
                           ELSE raise_error('FDP01', 'the conversation is locked') IS NULL END
            ), created AS (
                INSERT INTO comments (repository_id, issue_id, author_id, body)
                SELECT repository_id, id, %(actor)s, %(body)s FROM target
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
            ), {FANOUT.replace("%(comment_id)s::bigint", "(SELECT id FROM created)")}
            SELECT c.id, c.repository_id, c.issue_id, c.author_id, au.username AS author, c.body,
                   c.edited_at, c.deleted_at, c.created_at, c.updated_at, '{{}}'::json AS reactions
            FROM created c LEFT JOIN users au ON au.id = c.author_id
            """,
            params,
            one(Comment, f"issue #{number} not found in repository {repository_id}"),
        )

    @operation
    def edit_comment(
        self, repository_id: int, comment_id: int, *, actor_id: int, body: str
    ) -> Query[Comment]:
        """Change a comment's text (its author, or a writer); newly mentioned users are told."""
        clean = _body(body)
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "comment_id": validation.identifier(comment_id, "comment_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "body": clean,
            "mentions": extract_mentions(clean),
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ)}
            ), edited AS (
                UPDATE comments c SET body = %(body)s, edited_at = now() FROM guard
                WHERE c.repository_id = guard.id AND c.id = %(comment_id)s
                  AND c.deleted_at IS NULL AND {author_or_writer("c", "edit a comment")}
                RETURNING c.*
            ), target AS (
                SELECT i.repository_id, i.id FROM issues i, edited e
                WHERE i.repository_id = e.repository_id AND i.id = e.issue_id
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
            ), {FANOUT}
            SELECT {_COMMENT}
            FROM edited c LEFT JOIN users au ON au.id = c.author_id
            """,
            params,
            one(Comment, f"comment {comment_id} not found in repository {repository_id}"),
        )

    @operation
    def delete_comment(
        self, repository_id: int, comment_id: int, *, actor_id: int
    ) -> Query[Comment]:
        """Delete a comment (its author, or a writer): a tombstone keeps its place in the thread."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "comment_id": validation.identifier(comment_id, "comment_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ)}
            ), deleted AS (
                UPDATE comments c SET body = '', deleted_at = now() FROM guard
                WHERE c.repository_id = guard.id AND c.id = %(comment_id)s
                  AND c.deleted_at IS NULL AND {author_or_writer("c", "delete a comment")}
                RETURNING c.*
            ), forgotten AS (
                DELETE FROM mentions m USING deleted d
                WHERE m.repository_id = d.repository_id AND m.comment_id = d.id
            )
            SELECT {_COMMENT}
            FROM deleted c LEFT JOIN users au ON au.id = c.author_id
            """,
            params,
            one(Comment, f"comment {comment_id} not found in repository {repository_id}"),
        )

    @operation
    def list_comments(
        self,
        repository_id: int,
        number: int,
        *,
        viewer_id: int | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Query[Page[Comment]]:
        """The conversation of issue ``#number``, oldest first, tombstones included."""
        size = page_size(limit)
        scope = ("comments", repository_id, number)
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "viewer": None if viewer_id is None else validation.identifier(viewer_id, "viewer_id"),
            "after_at": after[0],
            "after_id": after[1],
            "limit": size + 1,
        }
        return Query(
            f"""
            SELECT {_COMMENT}
            FROM comments c LEFT JOIN users au ON au.id = c.author_id
            WHERE c.repository_id = %(repository_id)s
              AND c.issue_id = (SELECT id FROM issues
                                WHERE repository_id = %(repository_id)s AND number = %(number)s)
              AND can_read_repository(%(repository_id)s, %(viewer)s)
              AND (%(after_at)s::timestamptz IS NULL
                   OR (c.created_at, c.id) > (%(after_at)s, %(after_id)s))
            ORDER BY c.created_at, c.id
            LIMIT %(limit)s
            """,
            params,
            paged(Comment, size, scope, lambda c: (c.created_at, c.id)),
        )

    @operation
    def get_comment(
        self, repository_id: int, comment_id: int, *, viewer_id: int | None = None
    ) -> Query[Comment]:
        """One comment with its reaction counts, if its repository is visible."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "comment_id": validation.identifier(comment_id, "comment_id"),
            "viewer": None if viewer_id is None else validation.identifier(viewer_id, "viewer_id"),
        }
        return Query(
            f"""
            SELECT {_COMMENT}
            FROM comments c LEFT JOIN users au ON au.id = c.author_id
            WHERE c.repository_id = %(repository_id)s AND c.id = %(comment_id)s
              AND can_read_repository(%(repository_id)s, %(viewer)s)
            """,
            params,
            one(Comment, f"comment {comment_id} not found in repository {repository_id}"),
        )
