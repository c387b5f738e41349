"""``db.repositories.collaborators``: who holds which role on a repository."""

from __future__ import annotations

import builtins

from ..access import Role, gate, guard
from ..inputs import Id
from ..query import Namespace, Query, R, affected, many, one, read, write
from .models import Collaborator
from .sql import of_visible_repository

__all__ = ["Collaborators"]


class Collaborators(Namespace[R]):
    """Roles granted to users other than the owner (admin only)."""

    @write
    def set(
        self, repository_id: Id, *, actor_id: Id, user_id: Id, role: Role
    ) -> Query[Collaborator]:
        """Grant (or change) a user's role (admin). The owner needs no row."""
        return Query(
            f"""
            WITH guard AS ({guard("admin")}),
            grantee AS (
                SELECT u.id, u.username FROM users u, guard, repositories r
                WHERE u.id = %(user_id)s AND u.active AND r.id = guard.id AND r.owner_id <> u.id
            ), saved AS (
                INSERT INTO repository_collaborators (repository_id, user_id, role)
                SELECT guard.id, grantee.id, %(role)s FROM guard, grantee
                ON CONFLICT (repository_id, user_id) DO UPDATE SET role = EXCLUDED.role
                RETURNING repository_id, user_id, role, created_at
            )
            SELECT s.repository_id, s.user_id, g.username, s.role, s.created_at
            FROM saved s JOIN grantee g ON g.id = s.user_id
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "user_id": user_id,
                "role": role,
            },
            one(Collaborator, f"user {user_id} not found, not active, or the owner"),
        )

    @write
    def delete(self, repository_id: Id, *, actor_id: Id, user_id: Id) -> Query[bool]:
        """Take a user's role away (admin); ``False`` if they had none."""
        return Query(
            f"""
            WITH guard AS ({guard("admin")})
            DELETE FROM repository_collaborators c USING guard
            WHERE c.repository_id = guard.id AND c.user_id = %(user_id)s AND {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "user_id": user_id},
            affected,
        )

    @read
    def list(
        self, repository_id: Id, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[Collaborator]]:
        """Collaborators and their roles, by username, for anyone who can read the repository."""
        return Query(
            of_visible_repository(
                "repository_collaborators c JOIN users u ON u.id = c.user_id",
                "c.repository_id, c.user_id, u.username, c.role, c.created_at",
                "lower(u.username), u.id",
            ),
            {"repository_id": repository_id, "viewer_id": viewer_id},
            many(Collaborator),
        )
