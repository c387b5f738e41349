"""``db.collaboration``: reactions, notifications, stars, watches and direct messages.

Whatever hangs off a repository is read through ``can_read_repository()``: a notification
about a private repository disappears for a user who loses access, and a stranger's reaction
toggle on a private issue is ``NotFound``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from . import validation
from .access import READ, guard
from .errors import InvalidInput, register_constraint_messages
from .pagination import Page, decode_cursor, page_size, paged
from .query import Namespace, Query, R, affected, one, operation, rowcount, scalar
from .repositories import Repository

__all__ = ["EMOJI", "Collaboration", "Message", "Notification", "StarredRepository", "WatchLevel"]

EMOJI: Final = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
WatchLevel = Literal["watching", "participating", "ignoring"]

register_constraint_messages(
    {
        "messages_not_self_check": "a message needs a recipient other than its sender",
        "messages_body_check": "message: 1-65536 characters, not blank",
    }
)


class Notification(BaseModel):
    """Something that happened that a user should know about, and why they were told."""

    model_config = ConfigDict(frozen=True)

    id: int
    repository_id: int
    repository: str
    issue_number: int | None
    issue_title: str | None
    comment_id: int | None
    actor: str | None
    reason: str
    read_at: datetime | None
    created_at: datetime


class StarredRepository(Repository):
    """A starred repository and when it was starred."""

    starred_at: datetime


class Message(BaseModel):
    """A direct message."""

    model_config = ConfigDict(frozen=True)

    id: int
    sender_id: int
    recipient_id: int
    body: str
    read_at: datetime | None
    created_at: datetime


def _id(value: Any, field: str) -> int:
    return validation.identifier(value, field)


def _emoji(value: Any) -> str:
    if value not in EMOJI:
        raise InvalidInput(f"emoji must be one of {', '.join(EMOJI)}", field="emoji")
    return str(value)


_NOTIFICATION: Final = """
    n.id, n.repository_id, o.username || '/' || r.name AS repository,
    i.number AS issue_number, i.title AS issue_title, n.comment_id, a.username AS actor,
    n.reason, n.read_at, n.created_at"""
_NOTIFICATION_FROM: Final = """
    notifications n
    JOIN repositories r ON r.id = n.repository_id
    JOIN users o ON o.id = r.owner_id
    LEFT JOIN issues i ON i.repository_id = n.repository_id AND i.id = n.issue_id
    LEFT JOIN users a ON a.id = n.actor_id"""
_MESSAGE: Final = "id, sender_id, recipient_id, body, read_at, created_at"


class Collaboration(Namespace[R]):
    """Reactions, notifications, stars, watches and messages."""

    __slots__ = ()

    # --- reactions --------------------------------------------------------------------------

    @operation
    def toggle_reaction(
        self,
        repository_id: int,
        *,
        actor_id: int,
        emoji: str,
        issue_number: int | None = None,
        comment_id: int | None = None,
    ) -> Query[bool]:
        """Add the actor's ``emoji`` to an issue or a comment, or take it back; ``True`` if added.

        Anyone who can read the repository may react; on a locked issue only writers may.
        """
        if (issue_number is None) == (comment_id is None):
            raise InvalidInput(
                "react to an issue_number or a comment_id, not both", field="issue_number"
            )
        params = {
            "repository_id": _id(repository_id, "repository_id"),
            "actor": _id(actor_id, "actor_id"),
            "emoji": _emoji(emoji),
            "number": _id(issue_number, "issue_number") if issue_number is not None else None,
            "comment_id": _id(comment_id, "comment_id") if comment_id is not None else None,
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ)}
            ), target AS (
                SELECT i.repository_id,
                       CASE WHEN %(comment_id)s::bigint IS NULL THEN i.id END AS issue_id,
                       c.id AS comment_id
                FROM guard
                JOIN issues i ON i.repository_id = guard.id
                LEFT JOIN comments c ON c.repository_id = guard.id AND c.id = %(comment_id)s
                                    AND c.deleted_at IS NULL
                WHERE (i.number = %(number)s OR (c.id IS NOT NULL AND i.id = c.issue_id))
                  AND CASE WHEN NOT i.locked OR repository_access_level(guard.id, %(actor)s) >= 2
                           THEN true
                           ELSE raise_error('FDP01', 'the conversation is locked') IS NULL END
            ), removed AS (
                DELETE FROM reactions x USING target t
                WHERE x.repository_id = t.repository_id AND x.user_id = %(actor)s
                  AND x.emoji = %(emoji)s
                  AND x.issue_id IS NOT DISTINCT FROM t.issue_id
                  AND x.comment_id IS NOT DISTINCT FROM t.comment_id
                RETURNING x.id
            ), added AS (
                INSERT INTO reactions (repository_id, issue_id, comment_id, user_id, emoji)
                SELECT repository_id, issue_id, comment_id, %(actor)s, %(emoji)s FROM target
                WHERE NOT EXISTS (SELECT 1 FROM removed)
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            SELECT EXISTS (SELECT 1 FROM added) FROM target
            """,
            params,
            scalar(bool, "the issue or comment to react to was not found"),
        )

    # --- notifications ----------------------------------------------------------------------

    @operation
    def list_notifications(
        self,
        user_id: int,
        *,
        unread_only: bool = False,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Query[Page[Notification]]:
        """The user's notifications, newest first (only for repositories they can still read)."""
        user = _id(user_id, "user_id")
        size = page_size(limit)
        scope = ("notifications", user, bool(unread_only))
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        return Query(
            f"""
            SELECT {_NOTIFICATION}
            FROM {_NOTIFICATION_FROM}
            WHERE n.user_id = %(user)s
              AND (NOT %(unread)s OR n.read_at IS NULL)
              AND (%(after_at)s::timestamptz IS NULL
                   OR (n.created_at, n.id) < (%(after_at)s, %(after_id)s))
              AND can_read_repository(n.repository_id, %(user)s)
            ORDER BY n.created_at DESC, n.id DESC
            LIMIT %(limit)s
            """,
            {
                "user": user,
                "unread": bool(unread_only),
                "after_at": after[0],
                "after_id": after[1],
                "limit": size + 1,
            },
            paged(Notification, size, scope, lambda n: (n.created_at, n.id)),
        )

    @operation
    def unread_notification_count(self, user_id: int) -> Query[int]:
        """How many unread notifications the user has (in repositories they can read)."""
        return Query(
            """
            SELECT count(*) FROM notifications n
            WHERE n.user_id = %(user)s AND n.read_at IS NULL
              AND can_read_repository(n.repository_id, %(user)s)
            """,
            {"user": _id(user_id, "user_id")},
            scalar(int),
        )

    @operation
    def mark_notification_read(self, user_id: int, notification_id: int) -> Query[bool]:
        """Mark one of the user's notifications read; ``False`` if it was read or is not theirs."""
        return Query(
            """
            UPDATE notifications SET read_at = now()
            WHERE id = %s AND user_id = %s AND read_at IS NULL
            """,
            (_id(notification_id, "notification_id"), _id(user_id, "user_id")),
            affected,
        )

    @operation
    def mark_all_notifications_read(
        self, user_id: int, *, repository_id: int | None = None
    ) -> Query[int]:
        """Mark every unread notification read (of one repository, if given); return how many."""
        return Query(
            """
            UPDATE notifications SET read_at = now()
            WHERE user_id = %(user)s AND read_at IS NULL
              AND (%(repository_id)s::bigint IS NULL OR repository_id = %(repository_id)s)
            """,
            {
                "user": _id(user_id, "user_id"),
                "repository_id": (
                    _id(repository_id, "repository_id") if repository_id is not None else None
                ),
            },
            rowcount,
        )

    # --- stars ------------------------------------------------------------------------------

    @operation
    def toggle_star(self, user_id: int, repository_id: int) -> Query[bool]:
        """Star a repository the user can read, or unstar it; ``True`` if now starred."""
        params = {
            "actor": _id(user_id, "user_id"),
            "repository_id": _id(repository_id, "repository_id"),
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ, write=False)}
            ), removed AS (
                DELETE FROM stars s USING guard
                WHERE s.user_id = %(actor)s AND s.repository_id = guard.id
                RETURNING s.user_id
            ), added AS (
                INSERT INTO stars (user_id, repository_id)
                SELECT %(actor)s, id FROM guard WHERE NOT EXISTS (SELECT 1 FROM removed)
                ON CONFLICT DO NOTHING
                RETURNING user_id
            )
            SELECT EXISTS (SELECT 1 FROM added) FROM guard
            """,
            params,
            scalar(bool),
        )

    @operation
    def star_count(self, repository_id: int, *, viewer_id: int | None = None) -> Query[int]:
        """How many users starred the repository."""
        params = {
            "repository_id": _id(repository_id, "repository_id"),
            "viewer": _id(viewer_id, "viewer_id") if viewer_id is not None else None,
        }
        return Query(
            """
            SELECT (SELECT count(*) FROM stars WHERE repository_id = %(repository_id)s)
            WHERE can_read_repository(%(repository_id)s, %(viewer)s)
            """,
            params,
            scalar(int, f"repository {repository_id} not found"),
        )

    @operation
    def list_starred(
        self,
        user_id: int,
        *,
        viewer_id: int | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Query[Page[StarredRepository]]:
        """Repositories ``user_id`` starred that the viewer may see, most recent star first."""
        user = _id(user_id, "user_id")
        size = page_size(limit)
        scope = ("stars", user)
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        return Query(
            """
            SELECT r.id, r.owner_id, o.username AS owner, r.name, r.description, r.private,
                   r.archived, r.default_bookmark, r.created_at, r.updated_at,
                   CASE a.level WHEN 3 THEN 'admin' WHEN 2 THEN 'write' WHEN 1 THEN 'read'
                        ELSE 'none' END AS viewer_role,
                   s.created_at AS starred_at
            FROM stars s
            JOIN repositories r ON r.id = s.repository_id
            JOIN users o ON o.id = r.owner_id
            CROSS JOIN LATERAL (SELECT repository_access_level(r.id, %(viewer)s) AS level) a
            WHERE s.user_id = %(user)s AND a.level >= 1
              AND (%(after_at)s::timestamptz IS NULL
                   OR (s.created_at, s.repository_id) < (%(after_at)s, %(after_id)s))
            ORDER BY s.created_at DESC, s.repository_id DESC
            LIMIT %(limit)s
            """,
            {
                "user": user,
                "viewer": _id(viewer_id, "viewer_id") if viewer_id is not None else None,
                "after_at": after[0],
                "after_id": after[1],
                "limit": size + 1,
            },
            paged(StarredRepository, size, scope, lambda r: (r.starred_at, r.id)),
        )

    # --- watches ----------------------------------------------------------------------------

    @operation
    def set_watch(self, user_id: int, repository_id: int, level: WatchLevel) -> Query[str]:
        """Watch a repository at ``level``: watching, participating (the default) or ignoring."""
        if level not in ("watching", "participating", "ignoring"):
            raise InvalidInput("level must be watching, participating or ignoring", field="level")
        params = {
            "actor": _id(user_id, "user_id"),
            "repository_id": _id(repository_id, "repository_id"),
            "level": level,
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ, write=False)}
            )
            INSERT INTO watches (user_id, repository_id, level)
            SELECT %(actor)s, id, %(level)s FROM guard
            ON CONFLICT (user_id, repository_id) DO UPDATE SET level = EXCLUDED.level
            RETURNING level
            """,
            params,
            scalar(str),
        )

    @operation
    def get_watch(self, user_id: int, repository_id: int) -> Query[str]:
        """The user's watch level on a repository they can read (participating by default)."""
        params = {
            "user": _id(user_id, "user_id"),
            "repository_id": _id(repository_id, "repository_id"),
        }
        return Query(
            """
            SELECT coalesce((SELECT level FROM watches
                             WHERE user_id = %(user)s AND repository_id = %(repository_id)s),
                            'participating')
            WHERE can_read_repository(%(repository_id)s, %(user)s)
            """,
            params,
            scalar(str, f"repository {repository_id} not found"),
        )

    # --- direct messages --------------------------------------------------------------------

    @operation
    def send_message(self, sender_id: int, recipient_id: int, body: str) -> Query[Message]:
        """Send a direct message between two active users."""
        text = validation.text(body, "body", max_length=65536, min_length=1)
        if not text.strip():
            raise InvalidInput("body must not be blank", field="body")
        if sender_id == recipient_id:
            raise InvalidInput(
                "a message needs a recipient other than its sender", field="recipient_id"
            )
        params = {
            "sender": _id(sender_id, "sender_id"),
            "recipient": _id(recipient_id, "recipient_id"),
            "body": text,
        }
        return Query(
            f"""
            INSERT INTO messages (sender_id, recipient_id, body)
            SELECT s.id, r.id, %(body)s FROM users s, users r
            WHERE s.id = %(sender)s AND s.active AND r.id = %(recipient)s AND r.active
            RETURNING {_MESSAGE}
            """,
            params,
            one(Message, "sender or recipient not found or not active"),
        )

    @operation
    def list_conversation(
        self, user_id: int, other_id: int, *, cursor: str | None = None, limit: int | None = None
    ) -> Query[Page[Message]]:
        """Messages between two users, newest first."""
        user, other = _id(user_id, "user_id"), _id(other_id, "other_id")
        size = page_size(limit)
        scope = ("messages", min(user, other), max(user, other))
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        return Query(
            f"""
            SELECT {_MESSAGE} FROM messages
            WHERE user_low_id = least(%(user)s, %(other)s)::bigint
              AND user_high_id = greatest(%(user)s, %(other)s)::bigint
              AND (%(after_at)s::timestamptz IS NULL
                   OR (created_at, id) < (%(after_at)s, %(after_id)s))
            ORDER BY created_at DESC, id DESC
            LIMIT %(limit)s
            """,
            {
                "user": user,
                "other": other,
                "after_at": after[0],
                "after_id": after[1],
                "limit": size + 1,
            },
            paged(Message, size, scope, lambda m: (m.created_at, m.id)),
        )

    @operation
    def unread_message_count(self, user_id: int) -> Query[int]:
        """How many messages to the user are unread."""
        return Query(
            "SELECT count(*) FROM messages WHERE recipient_id = %s AND read_at IS NULL",
            (_id(user_id, "user_id"),),
            scalar(int),
        )

    @operation
    def mark_conversation_read(self, user_id: int, other_id: int) -> Query[int]:
        """Mark every message from ``other_id`` to the user read; return how many."""
        return Query(
            """
            UPDATE messages SET read_at = now()
            WHERE recipient_id = %s AND sender_id = %s AND read_at IS NULL
            """,
            (_id(user_id, "user_id"), _id(other_id, "other_id")),
            rowcount,
        )
