"""``db.repositories.bookmarks``: jj bookmarks, their compare-and-swap moves and renames."""

from __future__ import annotations

import builtins
from typing import Final

from ..access import gate, guard, readable
from ..errors import Conflict, InvalidInput, register_constraint_messages
from ..inputs import CommitId, CommitIds, Id, RefName
from ..query import (
    Namespace,
    Query,
    R,
    Result,
    Shape,
    affected,
    many,
    one,
    optional,
    read,
    scalar,
    write,
)
from .models import Bookmark
from .sql import of_visible_repository

__all__ = ["Bookmarks"]

register_constraint_messages(
    {
        "bookmarks_repository_id_name_key": "a bookmark with this name",
        "bookmarks_name_check": "bookmark name is not a valid ref name",
        "renamed_branches_repository_id_old_name_key": "a rename from this name",
    }
)

_COLUMNS: Final = "id, repository_id, name, targets, conflicted, updated_at"


def _missing(repository_id: int, name: str) -> str:
    return f"bookmark {name!r} not found in repository {repository_id}"


class Bookmarks(Namespace[R]):
    """Bookmarks: named pointers to one commit, or to several while conflicted."""

    @write
    def set(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        name: RefName,
        targets: CommitId | CommitIds,
        expected_targets: CommitIds | None = None,
    ) -> Query[Bookmark]:
        """Create or move a bookmark (write). Several targets make it conflicted.

        With ``expected_targets`` the move happens only if the bookmark still points there (an
        empty list: only if it does not exist yet), else ``Conflict``: a compare-and-swap for
        agents racing to move the same bookmark.
        """
        if not targets:
            raise InvalidInput("targets must name at least one commit", field="targets")
        return Query(
            f"""
            WITH guard AS ({guard("write")})
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
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "name": name,
                "targets": [targets] if isinstance(targets, str) else targets,
                "check": expected_targets is not None,
                "expected": sorted(expected_targets or []),
            },
            _moved_or_conflict(name),
        )

    @write
    def delete(self, repository_id: Id, *, actor_id: Id, name: RefName) -> Query[bool]:
        """Delete a bookmark (write); ``False`` if there was none."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            DELETE FROM bookmarks b USING guard
            WHERE b.repository_id = guard.id AND b.name = %(name)s AND {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "name": name},
            affected,
        )

    @read
    def get(
        self, repository_id: Id, name: RefName, *, viewer_id: Id | None = None
    ) -> Query[Bookmark]:
        """A bookmark by name, following renames (old names resolve to the current one)."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM bookmarks
            WHERE repository_id = %(repository_id)s
              AND name IN (%(name)s, resolve_ref_name(%(repository_id)s, %(name)s))
              AND {readable()}
            -- A live bookmark of that very name wins over a rename recorded for it.
            ORDER BY name = %(name)s DESC
            LIMIT 1
            """,
            {"repository_id": repository_id, "name": name, "viewer_id": viewer_id},
            one(Bookmark, _missing(repository_id, name)),
        )

    @read
    def list(
        self, repository_id: Id, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[Bookmark]]:
        """Every bookmark of a visible repository, by name."""
        return Query(
            of_visible_repository("bookmarks", _COLUMNS, "name"),
            {"repository_id": repository_id, "viewer_id": viewer_id},
            many(Bookmark),
        )

    @write
    def rename(
        self, repository_id: Id, *, actor_id: Id, old_name: RefName, new_name: RefName
    ) -> Query[Bookmark]:
        """Rename a bookmark (write) and record the rename so the old name still resolves."""
        if old_name == new_name:
            raise InvalidInput("new_name must differ from old_name", field="new_name")
        returned = ", ".join("b." + c for c in _COLUMNS.split(", "))
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            renamed AS (
                UPDATE bookmarks b SET name = %(new)s FROM guard
                WHERE b.repository_id = guard.id AND b.name = %(old)s
                RETURNING {returned}
            ), recorded AS (
                -- A rename recorded from the new name goes with the schema's trigger.
                INSERT INTO renamed_branches (repository_id, old_name, new_name)
                SELECT repository_id, %(old)s, %(new)s FROM renamed
                ON CONFLICT (repository_id, old_name) DO UPDATE SET new_name = EXCLUDED.new_name
            )
            SELECT {_COLUMNS} FROM renamed
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "old": old_name,
                "new": new_name,
            },
            one(Bookmark, _missing(repository_id, old_name)),
        )

    @read
    def resolve(
        self, repository_id: Id, name: RefName, *, viewer_id: Id | None = None
    ) -> Query[str]:
        """The current name for ``name``, following recorded renames (itself if never renamed)."""
        return Query(
            f"""
            SELECT resolve_ref_name(%(repository_id)s, %(name)s)
            WHERE {readable()}
            """,
            {"repository_id": repository_id, "name": name, "viewer_id": viewer_id},
            scalar(str, f"repository {repository_id} not found"),
        )


def _moved_or_conflict(name: str) -> Shape[Bookmark]:
    to_bookmark = optional(Bookmark)

    def convert(result: Result) -> Bookmark:
        bookmark = to_bookmark.convert(result)
        if bookmark is None:
            raise Conflict(f"bookmark {name!r} has moved: its targets are not the expected ones")
        return bookmark

    return Shape(convert, to_bookmark.columns)
