"""SQL shared by the repositories domain's namespaces, with aliases passed in."""

from __future__ import annotations

from typing import Final

from ..access import readable, role_of

__all__ = ["REPOSITORY_COLUMNS", "of_visible_repository", "repository_row"]

# The columns of the schema's repository_overview view, as the Repository model names them.
REPOSITORY_COLUMNS: Final = (
    "id, owner_id, owner, name, description, private, archived, default_bookmark, created_at, "
    "updated_at"
)


def repository_row(alias: str = "r", viewer: str = "%(viewer_id)s") -> str:
    """The Repository columns of ``repository_overview`` alias ``alias``, with the viewer's role."""
    columns = ", ".join(f"{alias}.{c}" for c in REPOSITORY_COLUMNS.split(", "))
    return f"{columns}, {role_of(f'{alias}.id', viewer)} AS viewer_role"


def of_visible_repository(table: str, columns: str, order: str, condition: str = "true") -> str:
    """Rows of ``table`` in repository ``%(repository_id)s`` if ``%(viewer_id)s`` may read it."""
    return f"""
        SELECT {columns} FROM {table}
        WHERE repository_id = %(repository_id)s AND ({condition})
          AND {readable()}
        ORDER BY {order}
    """
