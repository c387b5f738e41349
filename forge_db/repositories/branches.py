"""``db.repositories.branches``: the git branches of a repository's git backend."""

from __future__ import annotations

import builtins
from typing import Final

from ..access import gate, guard
from ..errors import register_constraint_messages
from ..inputs import CommitId, Id, RefName
from ..query import Namespace, Query, R, affected, many, one, read, write
from .models import Branch
from .sql import of_visible_repository

__all__ = ["Branches"]

register_constraint_messages(
    {
        "branches_repository_id_name_key": "a branch with this name",
        "branches_name_check": "branch name is not a valid ref name",
    }
)

_COLUMNS: Final = "id, repository_id, name, commit_id, updated_at"


class Branches(Namespace[R]):
    """Git branches: one commit each (writers move them)."""

    @write
    def set(
        self, repository_id: Id, *, actor_id: Id, name: RefName, commit_id: CommitId
    ) -> Query[Branch]:
        """Create or move a git branch (write)."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            INSERT INTO branches (repository_id, name, commit_id)
            SELECT id, %(name)s, %(commit_id)s FROM guard
            ON CONFLICT (repository_id, name) DO UPDATE SET commit_id = EXCLUDED.commit_id
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "name": name,
                "commit_id": commit_id,
            },
            one(Branch, f"repository {repository_id} not found"),
        )

    @write
    def delete(self, repository_id: Id, *, actor_id: Id, name: RefName) -> Query[bool]:
        """Delete a git branch (write); ``False`` if there was none."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            DELETE FROM branches b USING guard
            WHERE b.repository_id = guard.id AND b.name = %(name)s AND {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "name": name},
            affected,
        )

    @read
    def list(
        self, repository_id: Id, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[Branch]]:
        """Every git branch of a visible repository, by name."""
        return Query(
            of_visible_repository("branches", _COLUMNS, "name"),
            {"repository_id": repository_id, "viewer_id": viewer_id},
            many(Branch),
        )
