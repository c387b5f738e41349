"""``db.issues.labels``: a repository's labels, and the labels on each issue (write role)."""

from __future__ import annotations

import builtins
from typing import Annotated, Final

from ..access import gate, guard, readable
from ..errors import register_constraint_messages
from ..inputs import UNSET, Color, Id, Names, Text, Unset
from ..query import Namespace, Query, R, affected, many, one, read, write
from .models import Issue, Label
from .sql import ISSUE_FROM, detail_columns

__all__ = ["Labels"]

register_constraint_messages(
    {
        "labels_repository_id_name_lower_key": "a label with this name",
        "labels_name_check": "label name: 1-50 characters, no commas",
        "labels_color_check": "label colour: #rrggbb",
    }
)


def _no_commas(name: str) -> str:
    if "," in name:
        raise ValueError("cannot contain commas")
    return name


LabelName = Annotated[
    str,
    Text(50, min_length=1, strip=True, controls=False, refine=_no_commas, sample="bug"),
]
LabelDescription = Annotated[str, Text(100, sample="")]

_COLUMNS: Final = "id, repository_id, name, color, description, created_at"


class Labels(Namespace[R]):
    """Labels: names unique per repository, case-insensitively."""

    @write
    def create(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        name: LabelName,
        color: Color = "#ededed",
        description: LabelDescription = "",
    ) -> Query[Label]:
        """A new label."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            INSERT INTO labels (repository_id, name, color, description)
            SELECT id, %(name)s, %(color)s, %(description)s FROM guard
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "name": name,
                "color": color,
                "description": description,
            },
            one(Label, "label not created"),
        )

    @write
    def update(
        self,
        repository_id: Id,
        label_id: Id,
        *,
        actor_id: Id,
        name: LabelName | Unset = UNSET,
        color: Color | Unset = UNSET,
        description: LabelDescription | Unset = UNSET,
    ) -> Query[Label]:
        """Rename, recolour or redescribe a label."""
        returned = ", ".join("l." + c for c in _COLUMNS.split(", "))
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            UPDATE labels l SET name = coalesce(%(name)s, l.name),
                                color = coalesce(%(color)s, l.color),
                                description = coalesce(%(description)s, l.description)
            FROM guard WHERE l.repository_id = guard.id AND l.id = %(label_id)s
            RETURNING {returned}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "label_id": label_id,
                "name": None if name is UNSET else name,
                "color": None if color is UNSET else color,
                "description": None if description is UNSET else description,
            },
            one(Label, f"label {label_id} not found in repository {repository_id}"),
        )

    @write
    def delete(self, repository_id: Id, label_id: Id, *, actor_id: Id) -> Query[bool]:
        """Delete a label; it leaves every issue it was on."""
        return Query(
            f"""
            WITH guard AS ({guard("write")})
            DELETE FROM labels l USING guard
            WHERE l.repository_id = guard.id AND l.id = %(label_id)s AND {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "label_id": label_id},
            affected,
        )

    @read
    def list(
        self, repository_id: Id, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[Label]]:
        """The repository's labels by name."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM labels
            WHERE repository_id = %(repository_id)s AND {readable()}
            ORDER BY lower(name), id
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id},
            many(Label),
        )

    @write
    def set_on_issue(
        self,
        repository_id: Id,
        number: Id,
        *,
        actor_id: Id,
        add: Names | None = None,
        remove: Names | None = None,
    ) -> Query[Issue]:
        """Attach and detach labels (by name) on issue ``#number``, in one statement."""
        labels_json = """coalesce((SELECT json_agg(json_build_object('id', l.id, 'name', l.name,
                            'color', l.color) ORDER BY lower(l.name))
                            FROM labels l WHERE l.repository_id = i.repository_id
                              AND l.id IN (SELECT label_id FROM final)), '[]')"""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                SELECT i.* FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
            ), wanted AS (
                SELECT l.id FROM labels l, guard
                WHERE l.repository_id = guard.id AND lower(l.name) = ANY(%(add)s::text[])
            ), checked AS (
                SELECT t.* FROM target t
                WHERE CASE WHEN (SELECT count(*) FROM wanted) < cardinality(%(add)s::text[])
                           THEN raise_invalid('add', 'some are not labels of this repository')
                                IS NULL
                           ELSE true END
            ), attached AS (
                INSERT INTO issue_labels (repository_id, issue_id, label_id)
                SELECT c.repository_id, c.id, w.id FROM checked c, wanted w
                ON CONFLICT DO NOTHING
            ), detached AS (
                DELETE FROM issue_labels il USING checked c, labels l
                WHERE il.repository_id = c.repository_id AND il.issue_id = c.id
                  AND l.id = il.label_id AND lower(l.name) = ANY(%(remove)s::text[])
                  AND NOT lower(l.name) = ANY(%(add)s::text[])
                RETURNING il.label_id
            ), final AS (
                SELECT il.label_id FROM issue_labels il, checked c
                WHERE il.repository_id = c.repository_id AND il.issue_id = c.id
                  AND il.label_id NOT IN (SELECT label_id FROM detached)
                UNION
                SELECT id FROM wanted
            ), touched AS (
                UPDATE issues i SET updated_at = now() FROM checked c WHERE i.id = c.id
                RETURNING i.*
            )
            SELECT {detail_columns(labels=labels_json)}
            FROM touched i {ISSUE_FROM}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "number": number,
                "add": add or [],
                "remove": remove or [],
            },
            one(Issue, f"issue #{number} not found in repository {repository_id}"),
        )
