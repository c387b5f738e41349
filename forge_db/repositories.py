"""``db.repositories``: repositories, collaborators, bookmarks, branches and their rules.

Reads take the viewer and filter with the schema's ``repository_access_level()``: a private
repository is ``NotFound`` to anyone without a role. Writes take the actor and go through
``repository_guard()``, which raises ``NotFound`` (cannot see it), ``PermissionDenied`` (can see
it, role too low) or ``Conflict`` (archived) inside the same statement.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from . import validation
from .access import ADMIN, WRITE, guard
from .errors import Conflict, InvalidInput, register_constraint_messages
from .pagination import Page, decode_cursor, page_size, paged
from .query import (
    Namespace,
    Query,
    R,
    Result,
    Shape,
    affected,
    many,
    one,
    operation,
    optional,
    scalar,
)

__all__ = [
    "Bookmark",
    "Branch",
    "Collaborator",
    "ProtectionRule",
    "Repositories",
    "Repository",
    "Role",
]

Role = Literal["read", "write", "admin"]
_LEVEL: Final = {"read": 1, "write": 2, "admin": 3}
_ROLE_OF_LEVEL: Final = {0: "none", 1: "read", 2: "write", 3: "admin"}

_REPO_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,100}")
_COMMIT_ID: Final = re.compile(r"[0-9a-f]{40}")
_UNSET: Any = object()

register_constraint_messages(
    {
        "repositories_owner_id_name_lower_key": "the owner already has a repository with this name",
        "repositories_name_check": "repository name: 1-100 of letters, digits, . _ -",
        "repositories_description_check": "description: at most 2000 characters",
        "repositories_default_bookmark_check": "default bookmark is not a valid name",
        "bookmarks_repository_id_name_key": "a bookmark with this name",
        "branches_repository_id_name_key": "a branch with this name",
        "protected_branches_repository_id_pattern_key": "a protection rule for this pattern",
        "renamed_branches_repository_id_old_name_key": "a rename from this name",
        "bookmarks_name_check": "bookmark name is not a valid ref name",
        "branches_name_check": "branch name is not a valid ref name",
    }
)


class Repository(BaseModel):
    """A repository as a viewer sees it, with the viewer's role."""

    model_config = ConfigDict(frozen=True)

    id: int
    owner_id: int
    owner: str
    name: str
    description: str
    private: bool
    archived: bool
    default_bookmark: str
    created_at: datetime
    updated_at: datetime
    viewer_role: Literal["none", "read", "write", "admin"]

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"


class Collaborator(BaseModel):
    """A user's role on a repository."""

    model_config = ConfigDict(frozen=True)

    repository_id: int
    user_id: int
    username: str
    role: Role
    created_at: datetime


class Bookmark(BaseModel):
    """A jj bookmark: one target, or several when conflicted."""

    model_config = ConfigDict(frozen=True)

    id: int
    repository_id: int
    name: str
    targets: list[str]
    conflicted: bool
    updated_at: datetime


class Branch(BaseModel):
    """A git branch of the repository's git backend."""

    model_config = ConfigDict(frozen=True)

    id: int
    repository_id: int
    name: str
    commit_id: str
    updated_at: datetime


class ProtectionRule(BaseModel):
    """Landing rules for bookmarks whose names match ``pattern``."""

    model_config = ConfigDict(frozen=True)

    id: int
    repository_id: int
    pattern: str
    required_approvals: int
    required_status_contexts: list[str]
    land_min_role: Literal["write", "admin"]
    created_at: datetime
    updated_at: datetime


# The repository columns as a viewer sees them; %(viewer)s is the viewer's user id or NULL.
_REPO_SELECT: Final = """
    SELECT r.id, r.owner_id, o.username AS owner, r.name, r.description, r.private, r.archived,
           r.default_bookmark, r.created_at, r.updated_at,
           CASE a.level WHEN 3 THEN 'admin' WHEN 2 THEN 'write' WHEN 1 THEN 'read'
                ELSE 'none' END AS viewer_role
    FROM repositories r
    JOIN users o ON o.id = r.owner_id
    CROSS JOIN LATERAL (SELECT repository_access_level(r.id, %(viewer)s) AS level) a
"""
_BOOKMARK_COLUMNS: Final = "id, repository_id, name, targets, conflicted, updated_at"
_BRANCH_COLUMNS: Final = "id, repository_id, name, commit_id, updated_at"
_RULE_COLUMNS: Final = (
    "id, repository_id, pattern, required_approvals, required_status_contexts, land_min_role, "
    "created_at, updated_at"
)


def _viewer(viewer_id: int | None) -> int | None:
    return None if viewer_id is None else validation.identifier(viewer_id, "viewer_id")


def _repo_name(value: Any, field: str = "name") -> str:
    name = validation.text(value, field, max_length=100, min_length=1)
    if not _REPO_NAME.fullmatch(name) or name in (".", "..") or name.lower().endswith(".git"):
        raise InvalidInput(
            f"{field}: 1-100 of letters, digits, '.', '_' or '-'; not '.', '..' or ending in .git",
            field=field,
        )
    return name


def _ref_name(value: Any, field: str) -> str:
    name = validation.text(value, field, max_length=255, min_length=1)
    if any(c.isspace() or ord(c) < 32 or c in "~^:?*[\\" for c in name) or name in ("@",):
        raise InvalidInput(f"{field} is not a valid bookmark name", field=field)
    return name


def _commit_ids(value: Any, field: str = "targets") -> list[str]:
    targets = [value] if isinstance(value, str) else list(value) if value is not None else []
    if not 1 <= len(targets) <= 64:
        raise InvalidInput(f"{field} must hold 1 to 64 commit ids", field=field)
    for target in targets:
        if not isinstance(target, str) or not _COMMIT_ID.fullmatch(target):
            raise InvalidInput(f"{field}: commit ids are 40 lowercase hex digits", field=field)
    # A conflicted bookmark's sides are a set: keep the order given, drop repeats.
    return list(dict.fromkeys(targets))


def _role(value: Any, field: str = "role") -> str:
    if value not in _LEVEL:
        raise InvalidInput(f"{field} must be one of read, write, admin", field=field)
    return str(value)


def _missing(repository_id: int) -> str:
    return f"repository {repository_id} not found"


class Repositories(Namespace[R]):
    """Repositories and everything hanging off them that access control governs."""

    __slots__ = ()

    # --- repositories -----------------------------------------------------------------------

    @operation
    def create(
        self,
        *,
        owner_id: int,
        name: str,
        private: bool = False,
        description: str = "",
        default_bookmark: str = "main",
    ) -> Query[Repository]:
        """Create a repository owned by an active user."""
        params = {
            "owner_id": validation.identifier(owner_id, "owner_id"),
            "name": _repo_name(name),
            "private": bool(private),
            "description": validation.text(description, "description", max_length=2000),
            "default_bookmark": _ref_name(default_bookmark, "default_bookmark"),
            "viewer": owner_id,
        }
        return Query(
            """
            WITH owner AS (
                SELECT id FROM users WHERE id = %(owner_id)s AND active
            ), created AS (
                INSERT INTO repositories (owner_id, name, private, description, default_bookmark)
                SELECT id, %(name)s, %(private)s, %(description)s, %(default_bookmark)s FROM owner
                RETURNING *
            )
            SELECT c.id, c.owner_id, o.username AS owner, c.name, c.description, c.private,
                   c.archived, c.default_bookmark, c.created_at, c.updated_at,
                   'admin' AS viewer_role
            FROM created c JOIN users o ON o.id = c.owner_id
            """,
            params,
            one(Repository, f"user {owner_id} not found or not active"),
        )

    @operation
    def get(self, owner: str, name: str, *, viewer_id: int | None = None) -> Query[Repository]:
        """The repository ``owner/name`` (old names of renamed ones resolve), if visible."""
        params = {
            "owner": validation.text(owner, "owner", max_length=39, min_length=1),
            "name": validation.text(name, "name", max_length=100, min_length=1),
            "viewer": _viewer(viewer_id),
        }
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
            {_REPO_SELECT}
            WHERE r.id = (SELECT id FROM target) AND a.level >= 1
            """,
            params,
            one(Repository, f"repository {owner}/{name} not found"),
        )

    @operation
    def get_by_id(self, repository_id: int, *, viewer_id: int | None = None) -> Query[Repository]:
        """The repository with this id, if visible to the viewer."""
        params = {
            "id": validation.identifier(repository_id, "repository_id"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            f"{_REPO_SELECT} WHERE r.id = %(id)s AND a.level >= 1",
            params,
            one(Repository, _missing(repository_id)),
        )

    @operation
    def list_for_owner(
        self,
        owner: str,
        *,
        viewer_id: int | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Query[Page[Repository]]:
        """The owner's repositories the viewer may see, by name (keyset pages)."""
        owner_name = validation.text(owner, "owner", max_length=39, min_length=1)
        size = page_size(limit)
        scope = ("repositories.owner", owner_name.lower())
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        return Query(
            f"""
            {_REPO_SELECT}
            WHERE r.owner_id = (SELECT id FROM users WHERE lower(username) = lower(%(owner)s))
              AND a.level >= 1
              AND (%(after_name)s::text IS NULL
                   OR (lower(r.name), r.id) > (%(after_name)s, %(after_id)s))
            ORDER BY lower(r.name), r.id
            LIMIT %(limit)s
            """,
            {
                "owner": owner_name,
                "viewer": _viewer(viewer_id),
                "after_name": after[0],
                "after_id": after[1],
                "limit": size + 1,
            },
            paged(Repository, size, scope, lambda r: (r.name.lower(), r.id)),
        )

    @operation
    def list_for_viewer(
        self, viewer_id: int, *, cursor: str | None = None, limit: int | None = None
    ) -> Query[Page[Repository]]:
        """Repositories the viewer owns or collaborates on, most recently updated first."""
        viewer = validation.identifier(viewer_id, "viewer_id")
        size = page_size(limit)
        scope = ("repositories.viewer", viewer)
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        return Query(
            f"""
            {_REPO_SELECT}
            WHERE r.id IN (SELECT id FROM repositories WHERE owner_id = %(viewer)s
                           UNION
                           SELECT repository_id FROM repository_collaborators
                           WHERE user_id = %(viewer)s)
              AND a.level >= 1
              AND (%(after_at)s::timestamptz IS NULL
                   OR (r.updated_at, r.id) < (%(after_at)s, %(after_id)s))
            ORDER BY r.updated_at DESC, r.id DESC
            LIMIT %(limit)s
            """,
            {"viewer": viewer, "after_at": after[0], "after_id": after[1], "limit": size + 1},
            paged(Repository, size, scope, lambda r: (r.updated_at, r.id)),
        )

    @operation
    def list_public(
        self, *, viewer_id: int | None = None, cursor: str | None = None, limit: int | None = None
    ) -> Query[Page[Repository]]:
        """Every public repository, newest first (the "explore" catalogue)."""
        size = page_size(limit)
        scope = ("repositories.public",)
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        return Query(
            f"""
            {_REPO_SELECT}
            WHERE NOT r.private
              AND (%(after_at)s::timestamptz IS NULL
                   OR (r.created_at, r.id) < (%(after_at)s, %(after_id)s))
            ORDER BY r.created_at DESC, r.id DESC
            LIMIT %(limit)s
            """,
            {
                "viewer": _viewer(viewer_id),
                "after_at": after[0],
                "after_id": after[1],
                "limit": size + 1,
            },
            paged(Repository, size, scope, lambda r: (r.created_at, r.id)),
        )

    @operation
    def update(
        self,
        repository_id: int,
        *,
        actor_id: int,
        description: str = _UNSET,
        default_bookmark: str = _UNSET,
        private: bool = _UNSET,
        archived: bool = _UNSET,
    ) -> Query[Repository]:
        """Change settings (admin). An archived repository only accepts being unarchived."""
        changes = {
            "description": (
                validation.text(description, "description", max_length=2000)
                if description is not _UNSET
                else None
            ),
            "default_bookmark": (
                _ref_name(default_bookmark, "default_bookmark")
                if default_bookmark is not _UNSET
                else None
            ),
            "private": bool(private) if private is not _UNSET else None,
            "archived": bool(archived) if archived is not _UNSET else None,
        }
        # Unarchiving is the one change an archived repository accepts.
        only_unarchive = changes["archived"] is False and all(
            v is None for k, v in changes.items() if k != "archived"
        )
        return Query(
            f"""
            WITH guard AS ({guard(ADMIN, write=not only_unarchive)}),
            updated AS (
                UPDATE repositories r SET
                    description = coalesce(%(description)s, r.description),
                    default_bookmark = coalesce(%(default_bookmark)s, r.default_bookmark),
                    private = coalesce(%(private)s, r.private),
                    archived = coalesce(%(archived)s, r.archived)
                FROM guard WHERE r.id = guard.id
                RETURNING r.*
            )
            SELECT u.id, u.owner_id, o.username AS owner, u.name, u.description, u.private,
                   u.archived, u.default_bookmark, u.created_at, u.updated_at,
                   'admin' AS viewer_role
            FROM updated u JOIN users o ON o.id = u.owner_id
            """,
            {
                **changes,
                "repository_id": validation.identifier(repository_id, "repository_id"),
                "actor": validation.identifier(actor_id, "actor_id"),
            },
            one(Repository, _missing(repository_id)),
        )

    @operation
    def rename(self, repository_id: int, *, actor_id: int, new_name: str) -> Query[Repository]:
        """Rename (admin); the old name keeps resolving through a redirect."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "viewer": actor_id,
            "name": _repo_name(new_name, "new_name"),
        }
        return Query(
            f"""
            WITH guard AS ({guard(ADMIN)}),
            updated AS (
                UPDATE repositories r SET name = %(name)s
                FROM guard WHERE r.id = guard.id
                RETURNING r.*
            )
            SELECT u.id, u.owner_id, o.username AS owner, u.name, u.description, u.private,
                   u.archived, u.default_bookmark, u.created_at, u.updated_at,
                   'admin' AS viewer_role
            FROM updated u JOIN users o ON o.id = u.owner_id
            """,
            params,
            one(Repository, _missing(repository_id)),
        )

    @operation
    def delete(self, repository_id: int, *, actor_id: int) -> Query[int]:
        """Delete a repository and everything in it (admin); returns its id."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
        }
        return Query(
            f"""
            WITH guard AS ({guard(ADMIN, write=False)})
            DELETE FROM repositories r USING guard WHERE r.id = guard.id
            RETURNING r.id
            """,
            params,
            scalar(int, _missing(repository_id)),
        )

    # --- collaborators ----------------------------------------------------------------------

    @operation
    def set_collaborator(
        self, repository_id: int, *, actor_id: int, user_id: int, role: Role
    ) -> Query[Collaborator]:
        """Grant (or change) a user's role (admin). The owner needs no row."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "user_id": validation.identifier(user_id, "user_id"),
            "role": _role(role),
        }
        return Query(
            f"""
            WITH guard AS ({guard(ADMIN)}),
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
            params,
            one(Collaborator, f"user {user_id} not found, not active, or the owner"),
        )

    @operation
    def remove_collaborator(
        self, repository_id: int, *, actor_id: int, user_id: int
    ) -> Query[bool]:
        """Take a user's role away (admin); ``False`` if they had none."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "user_id": validation.identifier(user_id, "user_id"),
        }
        return Query(
            f"""
            WITH guard AS ({guard(ADMIN)})
            DELETE FROM repository_collaborators c USING guard
            WHERE c.repository_id = guard.id AND c.user_id = %(user_id)s
            """,
            params,
            affected,
        )

    @operation
    def list_collaborators(
        self, repository_id: int, *, viewer_id: int | None = None
    ) -> Query[list[Collaborator]]:
        """Collaborators and their roles, by username, for anyone who can read the repository."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            """
            SELECT c.repository_id, c.user_id, u.username, c.role, c.created_at
            FROM repository_collaborators c JOIN users u ON u.id = c.user_id
            WHERE c.repository_id = %(repository_id)s
              AND repository_access_level(%(repository_id)s, %(viewer)s) >= 1
            ORDER BY lower(u.username), u.id
            """,
            params,
            many(Collaborator),
        )

    # --- bookmarks --------------------------------------------------------------------------

    @operation
    def set_bookmark(
        self,
        repository_id: int,
        *,
        actor_id: int,
        name: str,
        targets: str | list[str],
        expected_targets: list[str] | None = None,
    ) -> Query[Bookmark]:
        """Create or move a bookmark (write). Several targets make it conflicted.

        With ``expected_targets`` the move happens only if the bookmark still points there (an
        empty list: only if it does not exist yet), else ``Conflict``: a compare-and-swap for
        agents racing to move the same bookmark.
        """
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "name": _ref_name(name, "name"),
            "targets": _commit_ids(targets),
            "check": expected_targets is not None,
            "expected": (
                sorted(_commit_ids(expected_targets, "expected_targets"))
                if expected_targets
                else []
            ),
        }
        return Query(
            f"""
            WITH guard AS ({guard(WRITE)})
            INSERT INTO bookmarks (repository_id, name, targets)
            SELECT id, %(name)s, %(targets)s FROM guard
            WHERE NOT %(check)s OR cardinality(%(expected)s::text[]) = 0
               OR EXISTS (SELECT 1 FROM bookmarks b
                          WHERE b.repository_id = guard.id AND b.name = %(name)s)
            -- The WHERE of DO UPDATE sees the latest committed row, locked: a true
            -- compare-and-swap even when two movers race.
            ON CONFLICT (repository_id, name) DO UPDATE SET targets = EXCLUDED.targets
            WHERE NOT %(check)s
               OR array(SELECT unnest(bookmarks.targets) ORDER BY 1) = %(expected)s::text[]
            RETURNING {_BOOKMARK_COLUMNS}
            """,
            params,
            _bookmark_or_conflict(name),
        )

    @operation
    def delete_bookmark(self, repository_id: int, *, actor_id: int, name: str) -> Query[bool]:
        """Delete a bookmark (write); ``False`` if there was none."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "name": _ref_name(name, "name"),
        }
        return Query(
            f"""
            WITH guard AS ({guard(WRITE)})
            DELETE FROM bookmarks b USING guard
            WHERE b.repository_id = guard.id AND b.name = %(name)s
            """,
            params,
            affected,
        )

    @operation
    def get_bookmark(
        self, repository_id: int, name: str, *, viewer_id: int | None = None
    ) -> Query[Bookmark]:
        """A bookmark by name, following renames (old names resolve to the current one)."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "name": _ref_name(name, "name"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            f"""
            SELECT {_BOOKMARK_COLUMNS} FROM bookmarks
            WHERE repository_id = %(repository_id)s
              AND name IN (%(name)s, resolve_ref_name(%(repository_id)s, %(name)s))
              AND repository_access_level(%(repository_id)s, %(viewer)s) >= 1
            -- A live bookmark of that very name wins over a rename recorded for it.
            ORDER BY name = %(name)s DESC
            LIMIT 1
            """,
            params,
            one(Bookmark, f"bookmark {name!r} not found in repository {repository_id}"),
        )

    @operation
    def list_bookmarks(
        self, repository_id: int, *, viewer_id: int | None = None
    ) -> Query[list[Bookmark]]:
        """Every bookmark of a visible repository, by name."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            f"""
            SELECT {_BOOKMARK_COLUMNS} FROM bookmarks
            WHERE repository_id = %(repository_id)s
              AND repository_access_level(%(repository_id)s, %(viewer)s) >= 1
            ORDER BY name
            """,
            params,
            many(Bookmark),
        )

    @operation
    def rename_bookmark(
        self, repository_id: int, *, actor_id: int, old_name: str, new_name: str
    ) -> Query[Bookmark]:
        """Rename a bookmark (write) and record the rename so the old name still resolves."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "old": _ref_name(old_name, "old_name"),
            "new": _ref_name(new_name, "new_name"),
        }
        if params["old"] == params["new"]:
            raise InvalidInput("new_name must differ from old_name", field="new_name")
        return Query(
            f"""
            WITH guard AS ({guard(WRITE)}),
            renamed AS (
                UPDATE bookmarks b SET name = %(new)s FROM guard
                WHERE b.repository_id = guard.id AND b.name = %(old)s
                RETURNING {", ".join("b." + c for c in _BOOKMARK_COLUMNS.split(", "))}
            ), recorded AS (
                INSERT INTO renamed_branches (repository_id, old_name, new_name)
                SELECT repository_id, %(old)s, %(new)s FROM renamed
                ON CONFLICT (repository_id, old_name) DO UPDATE SET new_name = EXCLUDED.new_name
            ), unshadowed AS (
                DELETE FROM renamed_branches rb USING renamed
                WHERE rb.repository_id = renamed.repository_id AND rb.old_name = %(new)s
            )
            SELECT {_BOOKMARK_COLUMNS} FROM renamed
            """,
            params,
            one(Bookmark, f"bookmark {old_name!r} not found in repository {repository_id}"),
        )

    # --- git branches -----------------------------------------------------------------------

    @operation
    def set_branch(
        self, repository_id: int, *, actor_id: int, name: str, commit_id: str
    ) -> Query[Branch]:
        """Create or move a git branch (write)."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "name": _ref_name(name, "name"),
            "commit_id": _commit_ids(commit_id, "commit_id")[0],
        }
        return Query(
            f"""
            WITH guard AS ({guard(WRITE)})
            INSERT INTO branches (repository_id, name, commit_id)
            SELECT id, %(name)s, %(commit_id)s FROM guard
            ON CONFLICT (repository_id, name) DO UPDATE SET commit_id = EXCLUDED.commit_id
            RETURNING {_BRANCH_COLUMNS}
            """,
            params,
            one(Branch, f"repository {repository_id} not found"),
        )

    @operation
    def delete_branch(self, repository_id: int, *, actor_id: int, name: str) -> Query[bool]:
        """Delete a git branch (write); ``False`` if there was none."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "name": _ref_name(name, "name"),
        }
        return Query(
            f"""
            WITH guard AS ({guard(WRITE)})
            DELETE FROM branches b USING guard
            WHERE b.repository_id = guard.id AND b.name = %(name)s
            """,
            params,
            affected,
        )

    @operation
    def list_branches(
        self, repository_id: int, *, viewer_id: int | None = None
    ) -> Query[list[Branch]]:
        """Every git branch of a visible repository, by name."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            f"""
            SELECT {_BRANCH_COLUMNS} FROM branches
            WHERE repository_id = %(repository_id)s
              AND repository_access_level(%(repository_id)s, %(viewer)s) >= 1
            ORDER BY name
            """,
            params,
            many(Branch),
        )

    @operation
    def resolve_ref_name(
        self, repository_id: int, name: str, *, viewer_id: int | None = None
    ) -> Query[str]:
        """The current name for ``name``, following recorded renames (itself if never renamed)."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "name": _ref_name(name, "name"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            """
            SELECT resolve_ref_name(%(repository_id)s, %(name)s)
            WHERE repository_access_level(%(repository_id)s, %(viewer)s) >= 1
            """,
            params,
            scalar(str, _missing(repository_id)),
        )

    # --- protection rules -------------------------------------------------------------------

    @operation
    def protect(
        self,
        repository_id: int,
        *,
        actor_id: int,
        pattern: str,
        required_approvals: int = 0,
        required_status_contexts: list[str] | None = None,
        land_min_role: Literal["write", "admin"] = "write",
    ) -> Query[ProtectionRule]:
        """Create or replace the rule for ``pattern`` (admin)."""
        contexts = list(required_status_contexts or [])
        for context in contexts:
            validation.text(context, "required_status_contexts", max_length=255, min_length=1)
        if not isinstance(required_approvals, int) or not 0 <= required_approvals <= 100:
            raise InvalidInput("required_approvals must be 0..100", field="required_approvals")
        if land_min_role not in ("write", "admin"):
            raise InvalidInput("land_min_role must be write or admin", field="land_min_role")
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "pattern": validation.text(pattern, "pattern", max_length=255, min_length=1),
            "approvals": required_approvals,
            "contexts": contexts,
            "role": land_min_role,
        }
        return Query(
            f"""
            WITH guard AS ({guard(ADMIN)})
            INSERT INTO protected_branches (repository_id, pattern, required_approvals,
                                            required_status_contexts, land_min_role)
            SELECT id, %(pattern)s, %(approvals)s, %(contexts)s, %(role)s FROM guard
            ON CONFLICT (repository_id, pattern) DO UPDATE SET
                required_approvals = EXCLUDED.required_approvals,
                required_status_contexts = EXCLUDED.required_status_contexts,
                land_min_role = EXCLUDED.land_min_role
            RETURNING {_RULE_COLUMNS}
            """,
            params,
            one(ProtectionRule, _missing(repository_id)),
        )

    @operation
    def unprotect(self, repository_id: int, *, actor_id: int, pattern: str) -> Query[bool]:
        """Remove the rule for ``pattern`` (admin); ``False`` if there was none."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "pattern": validation.text(pattern, "pattern", max_length=255, min_length=1),
        }
        return Query(
            f"""
            WITH guard AS ({guard(ADMIN)})
            DELETE FROM protected_branches p USING guard
            WHERE p.repository_id = guard.id AND p.pattern = %(pattern)s
            """,
            params,
            affected,
        )

    @operation
    def list_protection_rules(
        self, repository_id: int, *, viewer_id: int | None = None
    ) -> Query[list[ProtectionRule]]:
        """Every protection rule of a visible repository, by pattern."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            f"""
            SELECT {_RULE_COLUMNS} FROM protected_branches
            WHERE repository_id = %(repository_id)s
              AND repository_access_level(%(repository_id)s, %(viewer)s) >= 1
            ORDER BY pattern
            """,
            params,
            many(ProtectionRule),
        )

    @operation
    def rules_for_bookmark(
        self, repository_id: int, name: str, *, viewer_id: int | None = None
    ) -> Query[list[ProtectionRule]]:
        """The protection rules whose pattern matches bookmark ``name``."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "name": _ref_name(name, "name"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            f"""
            SELECT {_RULE_COLUMNS} FROM protected_branches
            WHERE repository_id = %(repository_id)s
              AND branch_pattern_matches(pattern, %(name)s)
              AND repository_access_level(%(repository_id)s, %(viewer)s) >= 1
            ORDER BY pattern
            """,
            params,
            many(ProtectionRule),
        )


def _bookmark_or_conflict(name: str) -> Shape[Bookmark]:
    to_bookmark = optional(Bookmark)

    def shape(result: Result) -> Bookmark:
        bookmark = to_bookmark(result)
        if bookmark is None:
            raise Conflict(f"bookmark {name!r} has moved: its targets are not the expected ones")
        return bookmark

    return shape
