"""``db.workflows.definitions``: a repository's workflow definitions (write role to save).

A definition is saved from its parsed file (the repository, the path and the commit it was read
at); pydantic validates it first (:class:`~forge_db.workflows.definition.WorkflowDefinition`),
so only a well-formed graph of steps is ever stored. Saving the same name again replaces it.
"""

from __future__ import annotations

from typing import Final

from psycopg.types.json import Jsonb

from ..access import guard, readable
from ..errors import register_constraint_messages
from ..inputs import CommitId, Cursor, Flag, Id, Limit
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, one, read, write
from .models import Definition
from .vocabulary import Definition as DefinitionFile
from .vocabulary import WorkflowPath

__all__ = ["Definitions"]

register_constraint_messages(
    {
        "workflow_definitions_repository_id_name_lower_key": "a workflow with this name",
        "workflow_definitions_path_check": "path: 1-1024 characters, no control characters",
    }
)

_COLUMNS: Final = (
    "d.id, d.repository_id, d.name, d.path, d.source_commit_id, d.definition, d.enabled, "
    "d.created_at, d.updated_at"
)
_BY_NAME: Final = Keyset(Definition, "name", "id")


def _missing(repository_id: int, definition_id: int) -> str:
    return f"workflow definition {definition_id} not found in repository {repository_id}"


class Definitions(Namespace[R]):
    """Workflow definitions, one per name in a repository."""

    @write
    def save(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        path: WorkflowPath,
        definition: DefinitionFile,
        commit_id: CommitId | None = None,
    ) -> Query[Definition]:
        """Store a parsed definition file under its name, replacing the one of that name."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            INSERT INTO workflow_definitions AS d
                   (repository_id, name, path, definition, source_commit_id)
            SELECT id, %(name)s, %(path)s, %(definition)s, %(commit_id)s FROM guard
            ON CONFLICT (repository_id, lower(name)) DO UPDATE SET
                name = EXCLUDED.name, path = EXCLUDED.path, definition = EXCLUDED.definition,
                source_commit_id = EXCLUDED.source_commit_id
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "name": definition["name"],
                "path": path,
                "definition": Jsonb(definition),
                "commit_id": commit_id,
            },
            one(Definition, "workflow definition not saved"),
        )

    @read
    def get(
        self, repository_id: Id, definition_id: Id, *, viewer_id: Id | None = None
    ) -> Query[Definition]:
        """One definition, if the viewer may read the repository."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM workflow_definitions d
            WHERE d.repository_id = %(repository_id)s AND d.id = %(definition_id)s
              AND {readable()}
            """,
            {
                "repository_id": repository_id,
                "definition_id": definition_id,
                "viewer_id": viewer_id,
            },
            one(Definition, _missing(repository_id, definition_id)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        enabled: Flag | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[Definition]]:
        """A keyset page of the repository's definitions by name; ``enabled`` filters."""
        size = page_size(limit)
        scope = ("workflows.definitions", repository_id, enabled)
        after_name, after_id = _BY_NAME.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS} FROM workflow_definitions d
            WHERE d.repository_id = %(repository_id)s AND {readable()}
              AND (%(enabled)s::boolean IS NULL OR d.enabled = %(enabled)s)
              AND (%(after_id)s::bigint IS NULL OR (d.name, d.id) > (%(after_name)s, %(after_id)s))
            ORDER BY d.name, d.id
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "enabled": enabled,
                "after_name": after_name,
                "after_id": after_id,
                "limit": size + 1,
            },
            _BY_NAME.page(size, scope),
        )

    @write
    def set_enabled(
        self, repository_id: Id, definition_id: Id, *, actor_id: Id, enabled: Flag
    ) -> Query[Definition]:
        """Enable or disable a definition: a disabled one starts no run."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            UPDATE workflow_definitions d SET enabled = %(enabled)s FROM guard
            WHERE d.repository_id = guard.id AND d.id = %(definition_id)s
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "definition_id": definition_id,
                "enabled": enabled,
            },
            one(Definition, _missing(repository_id, definition_id)),
        )
