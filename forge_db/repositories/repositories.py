"""``db.repositories``: repositories themselves: create, find, list, change, rename, delete.

Reads take the viewer and filter in SQL: a private repository is ``NotFound`` to anyone without
a role. Writes take the actor and start with the guard, which raises ``NotFound`` (cannot see
it), ``PermissionDenied`` (role too low) or ``Conflict`` (archived) in the same statement.
"""

from __future__ import annotations

from typing import Any, Final

from ..access import guard, readable
from ..errors import register_constraint_messages
from ..inputs import UNSET, Cursor, Description, Flag, Id, Limit, RefName, RepoName, Unset, Username
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, alias, one, read, scalar, write
from .bookmarks import Bookmarks
from .branches import Branches
from .collaborators import Collaborators
from .models import Repository
from .protection import Protection
from .sql import REPOSITORY_COLUMNS, repository_row
from .statuses import Statuses

__all__ = ["Repositories"]

register_constraint_messages(
    {
        "repositories_owner_id_name_lower_key": "the owner already has a repository with this name",
        "repositories_name_check": "repository name: 1-100 of letters, digits, . _ -",
        "repositories_description_check": "description: at most 2000 characters",
        "repositories_default_bookmark_check": "default bookmark is not a valid name",
    }
)

_BY_NAME: Final = Keyset(Repository, "name", "id")
_BY_UPDATE: Final = Keyset(Repository, "updated_at", "id")
_BY_CREATION: Final = Keyset(Repository, "created_at", "id")


def _admin_view(cte: str) -> str:
    """The Repository row of data-modifying CTE ``cte`` (rows of ``repositories``), as its admin."""
    columns = ", ".join(
        f"o.username AS {c}" if c == "owner" else f"c.{c}" for c in REPOSITORY_COLUMNS.split(", ")
    )
    return (
        f"SELECT {columns}, 'admin' AS viewer_role FROM {cte} c JOIN users o ON o.id = c.owner_id"
    )


def _missing(repository_id: int) -> str:
    return f"repository {repository_id} not found"


class Repositories(Namespace[R]):
    """Repositories; ``collaborators``, ``bookmarks``, ``branches``, ``protection`` and commit
    ``statuses`` hang off it."""

    collaborators: Collaborators[R]
    bookmarks: Bookmarks[R]
    branches: Branches[R]
    protection: Protection[R]
    statuses: Statuses[R]

    set_commit_status = alias(Statuses.set)
    combined_status = alias(Statuses.combined)

    @write
    def create(
        self,
        *,
        owner_id: Id,
        name: RepoName,
        private: Flag = False,
        description: Description = "",
        default_bookmark: RefName = "main",
    ) -> Query[Repository]:
        """Create a repository owned by an active user."""
        return Query(
            f"""
            WITH owner AS (
                SELECT id FROM users WHERE id = %(owner_id)s AND active
            ), created AS (
                INSERT INTO repositories (owner_id, name, private, description, default_bookmark)
                SELECT id, %(name)s, %(private)s, %(description)s, %(default_bookmark)s FROM owner
                RETURNING *
            )
            {_admin_view("created")}
            """,
            {
                "owner_id": owner_id,
                "name": name,
                "private": private,
                "description": description,
                "default_bookmark": default_bookmark,
            },
            one(Repository, f"user {owner_id} not found or not active"),
        )

    @read
    def get(
        self, owner: Username, name: RepoName, *, viewer_id: Id | None = None
    ) -> Query[Repository]:
        """The repository ``owner/name`` (old names of renamed ones resolve), if visible."""
        return Query(
            f"""
            WITH target AS (
                SELECT r.id FROM repositories r JOIN users u ON u.id = r.owner_id
                WHERE lower(u.username) = lower(%(owner)s) AND lower(r.name) = lower(%(name)s)
                UNION ALL
                SELECT d.repository_id FROM repository_redirects d JOIN users u ON u.id = d.owner_id
                WHERE lower(u.username) = lower(%(owner)s) AND lower(d.old_name) = lower(%(name)s)
                LIMIT 1
            )
            SELECT {repository_row()} FROM repository_overview r
            WHERE r.id = (SELECT id FROM target) AND {readable("r.id")}
            """,
            {"owner": owner, "name": name, "viewer_id": viewer_id},
            one(Repository, f"repository {owner}/{name} not found"),
        )

    @read
    def get_by_id(self, repository_id: Id, *, viewer_id: Id | None = None) -> Query[Repository]:
        """The repository with this id, if visible to the viewer."""
        return Query(
            f"""
            SELECT {repository_row()} FROM repository_overview r
            WHERE r.id = %(repository_id)s AND {readable("r.id")}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id},
            one(Repository, _missing(repository_id)),
        )

    @read
    def list_for_owner(
        self,
        owner: Username,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Repository]]:
        """The owner's repositories the viewer may see, by name (keyset pages)."""
        size = page_size(limit)
        scope = ("repositories.owner", owner.lower())
        after_name, after_id = _BY_NAME.after(cursor, scope)
        return Query(
            f"""
            SELECT {repository_row()} FROM repository_overview r
            WHERE r.owner_id = (SELECT id FROM users WHERE lower(username) = lower(%(owner)s))
              AND {readable("r.id")}
              AND (%(after_name)s::text IS NULL
                   OR (lower(r.name), r.id) > (lower(%(after_name)s), %(after_id)s))
            ORDER BY lower(r.name), r.id
            LIMIT %(limit)s
            """,
            {
                "owner": owner,
                "viewer_id": viewer_id,
                "after_name": after_name,
                "after_id": after_id,
                "limit": size + 1,
            },
            _BY_NAME.page(size, scope),
        )

    @read
    def list_for_viewer(
        self, *, viewer_id: Id, cursor: Cursor | None = None, limit: Limit | None = None
    ) -> Query[Page[Repository]]:
        """Repositories the viewer owns or collaborates on, most recently updated first."""
        size = page_size(limit)
        scope = ("repositories.viewer", viewer_id)
        after_at, after_id = _BY_UPDATE.after(cursor, scope)
        return Query(
            f"""
            SELECT {repository_row()} FROM repository_overview r
            WHERE r.id IN (SELECT id FROM repositories WHERE owner_id = %(viewer_id)s
                           UNION
                           SELECT repository_id FROM repository_collaborators
                           WHERE user_id = %(viewer_id)s)
              AND {readable("r.id")}
              AND (%(after_at)s::timestamptz IS NULL
                   OR (r.updated_at, r.id) < (%(after_at)s, %(after_id)s))
            ORDER BY r.updated_at DESC, r.id DESC
            LIMIT %(limit)s
            """,
            {"viewer_id": viewer_id, "after_at": after_at, "after_id": after_id, "limit": size + 1},
            _BY_UPDATE.page(size, scope),
        )

    @read
    def list_public(
        self,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Repository]]:
        """Every public repository, newest first (the "explore" catalogue)."""
        size = page_size(limit)
        scope = ("repositories.public",)
        after_at, after_id = _BY_CREATION.after(cursor, scope)
        return Query(
            f"""
            SELECT {repository_row()} FROM repository_overview r
            WHERE NOT r.private
              AND (%(after_at)s::timestamptz IS NULL
                   OR (r.created_at, r.id) < (%(after_at)s, %(after_id)s))
            ORDER BY r.created_at DESC, r.id DESC
            LIMIT %(limit)s
            """,
            {"viewer_id": viewer_id, "after_at": after_at, "after_id": after_id, "limit": size + 1},
            _BY_CREATION.page(size, scope),
        )

    @write
    def update(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        description: Description | Unset = UNSET,
        default_bookmark: RefName | Unset = UNSET,
        private: Flag | Unset = UNSET,
        archived: Flag | Unset = UNSET,
    ) -> Query[Repository]:
        """Change settings (admin). An archived repository only accepts being unarchived."""
        changes: dict[str, Any] = {
            "description": description,
            "default_bookmark": default_bookmark,
            "private": private,
            "archived": archived,
        }
        changes = {k: None if v is UNSET else v for k, v in changes.items()}
        # Unarchiving is the one change an archived repository accepts.
        only_unarchive = changes["archived"] is False and all(
            v is None for k, v in changes.items() if k != "archived"
        )
        return Query(
            f"""
            WITH guard AS ({guard("admin", writes=not only_unarchive)}),
            updated AS (
                UPDATE repositories r SET
                    description = coalesce(%(description)s, r.description),
                    default_bookmark = coalesce(%(default_bookmark)s, r.default_bookmark),
                    private = coalesce(%(private)s, r.private),
                    archived = coalesce(%(archived)s, r.archived)
                FROM guard WHERE r.id = guard.id
                RETURNING r.*
            )
            {_admin_view("updated")}
            """,
            {**changes, "repository_id": repository_id, "actor_id": actor_id},
            one(Repository, _missing(repository_id)),
        )

    @write
    def rename(self, repository_id: Id, *, actor_id: Id, new_name: RepoName) -> Query[Repository]:
        """Rename (admin); the old name keeps resolving through a redirect."""
        return Query(
            f"""
            WITH guard AS ({guard("admin")}),
            updated AS (
                UPDATE repositories r SET name = %(new_name)s
                FROM guard WHERE r.id = guard.id
                RETURNING r.*
            )
            {_admin_view("updated")}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "new_name": new_name},
            one(Repository, _missing(repository_id)),
        )

    @write
    def delete(self, repository_id: Id, *, actor_id: Id) -> Query[int]:
        """Delete a repository and everything in it (admin); returns its id."""
        return Query(
            f"""
            WITH guard AS ({guard("admin", writes=False)})
            DELETE FROM repositories r USING guard WHERE r.id = guard.id
            RETURNING r.id
            """,
            {"repository_id": repository_id, "actor_id": actor_id},
            scalar(int, _missing(repository_id)),
        )
