"""``db.collaboration.stars``: repositories users have starred."""

from __future__ import annotations

from typing import Final

from ..access import guard, readable
from ..inputs import Cursor, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, read, scalar, write
from ..repositories.sql import repository_row
from .models import StarredRepository

__all__ = ["Stars"]

_ORDER: Final = Keyset(StarredRepository, "starred_at", "id")


class Stars(Namespace[R]):
    """Stars: any reader of a repository may star it."""

    @write
    def toggle(self, repository_id: Id, *, actor_id: Id) -> Query[bool]:
        """Star a repository the actor can read, or unstar it; ``True`` if now starred."""
        return Query(
            f"""
            WITH guard AS (
                {guard("read", writes=False)}
            ), removed AS (
                DELETE FROM stars s USING guard
                WHERE s.user_id = %(actor_id)s AND s.repository_id = guard.id
                RETURNING s.user_id
            ), added AS (
                INSERT INTO stars (user_id, repository_id)
                SELECT %(actor_id)s, id FROM guard WHERE NOT EXISTS (SELECT 1 FROM removed)
                ON CONFLICT DO NOTHING
                RETURNING user_id
            )
            SELECT EXISTS (SELECT 1 FROM added) FROM guard
            """,
            {"repository_id": repository_id, "actor_id": actor_id},
            scalar(bool),
        )

    @read
    def count(self, repository_id: Id, *, viewer_id: Id | None = None) -> Query[int]:
        """How many users starred the repository."""
        return Query(
            f"""
            SELECT (SELECT count(*) FROM stars WHERE repository_id = %(repository_id)s)
            WHERE {readable()}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id},
            scalar(int, f"repository {repository_id} not found"),
        )

    @read
    def list(
        self,
        user_id: Id,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[StarredRepository]]:
        """Repositories ``user_id`` starred that the viewer may see, most recent star first."""
        size = page_size(limit)
        scope = ("stars", user_id)
        after_at, after_id = _ORDER.after(cursor, scope)
        return Query(
            f"""
            SELECT {repository_row()}, s.created_at AS starred_at
            FROM stars s JOIN repository_overview r ON r.id = s.repository_id
            WHERE s.user_id = %(user_id)s AND {readable("r.id")}
              AND (%(after_at)s::timestamptz IS NULL
                   OR (s.created_at, s.repository_id) < (%(after_at)s, %(after_id)s))
            ORDER BY s.created_at DESC, s.repository_id DESC
            LIMIT %(limit)s
            """,
            {
                "user_id": user_id,
                "viewer_id": viewer_id,
                "after_at": after_at,
                "after_id": after_id,
                "limit": size + 1,
            },
            _ORDER.page(size, scope),
        )
