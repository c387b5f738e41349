"""``db.collaboration.messages``: direct messages between two users."""

from __future__ import annotations

from typing import Annotated, Final

from ..errors import InvalidInput, register_constraint_messages
from ..inputs import Cursor, Id, Limit, Text
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, one, read, rowcount, scalar, write
from .models import Message

__all__ = ["Messages"]

register_constraint_messages(
    {
        "messages_not_self_check": "a message needs a recipient other than its sender",
        "messages_body_check": "message: 1-65536 characters, not blank",
    }
)


def _not_blank(body: str) -> str:
    if not body.strip():
        raise ValueError("must not be blank")
    return body


MessageBody = Annotated[str, Text(65536, min_length=1, refine=_not_blank, sample="hello")]

_ORDER: Final = Keyset(Message, "created_at", "id")
_COLUMNS: Final = "id, sender_id, recipient_id, body, read_at, created_at"


class Messages(Namespace[R]):
    """Conversations: the messages between the viewer and one other user."""

    @write
    def send(self, *, actor_id: Id, recipient_id: Id, body: MessageBody) -> Query[Message]:
        """Send a direct message between two active users."""
        if actor_id == recipient_id:
            raise InvalidInput(
                "a message needs a recipient other than its sender", field="recipient_id"
            )
        return Query(
            f"""
            INSERT INTO messages (sender_id, recipient_id, body)
            SELECT s.id, r.id, %(body)s FROM users s, users r
            WHERE s.id = %(actor_id)s AND s.active AND r.id = %(recipient_id)s AND r.active
            RETURNING {_COLUMNS}
            """,
            {"actor_id": actor_id, "recipient_id": recipient_id, "body": body},
            one(Message, "sender or recipient not found or not active"),
        )

    @read
    def list(
        self,
        other_id: Id,
        *,
        viewer_id: Id,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Message]]:
        """The messages between the viewer and ``other_id``, newest first."""
        size = page_size(limit)
        scope = ("messages", min(viewer_id, other_id), max(viewer_id, other_id))
        after_at, after_id = _ORDER.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS} FROM messages
            WHERE user_low_id = least(%(viewer_id)s, %(other_id)s)::bigint
              AND user_high_id = greatest(%(viewer_id)s, %(other_id)s)::bigint
              AND (%(after_at)s::timestamptz IS NULL
                   OR (created_at, id) < (%(after_at)s, %(after_id)s))
            ORDER BY created_at DESC, id DESC
            LIMIT %(limit)s
            """,
            {
                "viewer_id": viewer_id,
                "other_id": other_id,
                "after_at": after_at,
                "after_id": after_id,
                "limit": size + 1,
            },
            _ORDER.page(size, scope),
        )

    @read
    def unread_count(self, *, viewer_id: Id) -> Query[int]:
        """How many messages to the viewer are unread."""
        return Query(
            "SELECT count(*) FROM messages WHERE recipient_id = %s AND read_at IS NULL",
            (viewer_id,),
            scalar(int),
        )

    @write
    def mark_read(self, other_id: Id, *, actor_id: Id) -> Query[int]:
        """Mark every message from ``other_id`` to the actor read; return how many."""
        return Query(
            """
            UPDATE messages SET read_at = now()
            WHERE recipient_id = %s AND sender_id = %s AND read_at IS NULL
            """,
            (actor_id, other_id),
            rowcount,
        )
