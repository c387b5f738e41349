"""``db.collaboration.watches``: how much of a repository's activity a user is told about."""

from __future__ import annotations

from ..access import guard, readable
from ..inputs import Id
from ..query import Namespace, Query, R, read, scalar, write
from .models import WatchLevel

__all__ = ["Watches"]


class Watches(Namespace[R]):
    """Watch levels: watching (everything), participating (the default), ignoring (nothing)."""

    @write
    def set(self, repository_id: Id, *, actor_id: Id, level: WatchLevel) -> Query[str]:
        """Watch a repository the actor can read at ``level``."""
        return Query(
            f"""
            WITH guard AS (
                {guard("read", writes=False)}
            )
            INSERT INTO watches (user_id, repository_id, level)
            SELECT %(actor_id)s, id, %(level)s FROM guard
            ON CONFLICT (user_id, repository_id) DO UPDATE SET level = EXCLUDED.level
            RETURNING level
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "level": level},
            scalar(str),
        )

    @read
    def get(self, repository_id: Id, *, viewer_id: Id) -> Query[str]:
        """The viewer's watch level on a repository they can read (participating by default)."""
        return Query(
            f"""
            SELECT coalesce((SELECT level FROM watches
                             WHERE user_id = %(viewer_id)s AND repository_id = %(repository_id)s),
                            'participating')
            WHERE {readable()}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id},
            scalar(str, f"repository {repository_id} not found"),
        )
