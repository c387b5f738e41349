"""``db.collaboration.notifications``: a user's notifications, read and marked by them.

Fan-out (who is told, and why) is the schema's ``notification_recipients()``; the statements
that store notifications use :func:`forge_db.collaboration.fanout.fan_out`. Reading filters
again with the repository's visibility, so a notification disappears for a user who has lost
access to its repository.
"""

from __future__ import annotations

from typing import Final

from ..access import readable
from ..inputs import Cursor, Flag, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, affected, read, rowcount, scalar, write
from .models import Notification

__all__ = ["Notifications"]

_ORDER: Final = Keyset(Notification, "created_at", "id")
_COLUMNS: Final = """
    n.id, n.repository_id, o.username || '/' || r.name AS repository,
    i.number AS issue_number, i.title AS issue_title, n.comment_id,
    l.number AS landing_number, p.number AS pull_request_number, a.username AS actor,
    n.reason, n.read_at, n.created_at"""
_FROM: Final = """
    notifications n
    JOIN repositories r ON r.id = n.repository_id
    JOIN users o ON o.id = r.owner_id
    LEFT JOIN issues i ON i.repository_id = n.repository_id AND i.id = n.issue_id
    LEFT JOIN landing_queue l ON l.repository_id = n.repository_id AND l.id = n.landing_id
    LEFT JOIN pull_requests p ON p.repository_id = n.repository_id AND p.id = n.pull_request_id
    LEFT JOIN users a ON a.id = n.actor_id"""


class Notifications(Namespace[R]):
    """The signed-in user's notifications: ``viewer_id`` is whose they are."""

    @read
    def list(
        self,
        *,
        viewer_id: Id,
        unread_only: Flag = False,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Notification]]:
        """The viewer's notifications, newest first (only for repositories they can still read)."""
        size = page_size(limit)
        scope = ("notifications", viewer_id, unread_only)
        after_at, after_id = _ORDER.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS}
            FROM {_FROM}
            WHERE n.user_id = %(viewer_id)s
              AND (NOT %(unread)s OR n.read_at IS NULL)
              AND (%(after_at)s::timestamptz IS NULL
                   OR (n.created_at, n.id) < (%(after_at)s, %(after_id)s))
              AND {readable("n.repository_id")}
            ORDER BY n.created_at DESC, n.id DESC
            LIMIT %(limit)s
            """,
            {
                "viewer_id": viewer_id,
                "unread": unread_only,
                "after_at": after_at,
                "after_id": after_id,
                "limit": size + 1,
            },
            _ORDER.page(size, scope),
        )

    @read
    def unread_count(self, *, viewer_id: Id) -> Query[int]:
        """How many unread notifications the viewer has (in repositories they can read)."""
        return Query(
            f"""
            SELECT count(*) FROM notifications n
            WHERE n.user_id = %(viewer_id)s AND n.read_at IS NULL
              AND {readable("n.repository_id")}
            """,
            {"viewer_id": viewer_id},
            scalar(int),
        )

    @write
    def mark_read(self, notification_id: Id, *, actor_id: Id) -> Query[bool]:
        """Mark one of the actor's notifications read; ``False`` if it was read or is not theirs.

        Like the lists, it sees only notifications of repositories the actor can still read.
        """
        return Query(
            f"""
            UPDATE notifications n SET read_at = now()
            WHERE n.id = %(notification_id)s AND n.user_id = %(actor_id)s AND n.read_at IS NULL
              AND {readable("n.repository_id", "%(actor_id)s")}
            """,
            {"notification_id": notification_id, "actor_id": actor_id},
            affected,
        )

    @write
    def mark_all_read(self, *, actor_id: Id, repository_id: Id | None = None) -> Query[int]:
        """Mark every unread notification read (of one repository, if given); return how many."""
        return Query(
            f"""
            UPDATE notifications n SET read_at = now()
            WHERE n.user_id = %(actor_id)s AND n.read_at IS NULL
              AND (%(repository_id)s::bigint IS NULL OR n.repository_id = %(repository_id)s)
              AND {readable("n.repository_id", "%(actor_id)s")}
            """,
            {"actor_id": actor_id, "repository_id": repository_id},
            rowcount,
        )
