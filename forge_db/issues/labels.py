"""Labels, milestones and assignees of a repository's issues."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Final

from .. import validation
from ..access import WRITE, guard
from ..errors import InvalidInput, register_constraint_messages
from ..query import Namespace, Query, R, affected, many, one, operation
from .models import Issue, Label, Milestone
from .sql import FANOUT, ISSUE_FROM, detail_columns

__all__ = ["IssueLabels"]

_COLOR: Final = re.compile(r"#?([0-9a-fA-F]{6})")
_UNSET: Any = object()

register_constraint_messages(
    {
        "labels_repository_id_name_lower_key": "a label with this name",
        "labels_name_check": "label name: 1-50 characters, no commas",
        "labels_color_check": "label colour: #rrggbb",
        "milestones_repository_id_title_lower_key": "a milestone with this title",
    }
)

_LABEL: Final = "id, repository_id, name, color, description, created_at"
_MILESTONE: Final = """
    m.id, m.repository_id, m.title, m.description, m.state, m.due_on, m.closed_at,
    (SELECT count(*) FROM issues i WHERE i.repository_id = m.repository_id
        AND i.milestone_id = m.id AND i.state = 'open') AS open_issues,
    (SELECT count(*) FROM issues i WHERE i.repository_id = m.repository_id
        AND i.milestone_id = m.id AND i.state = 'closed') AS closed_issues,
    m.created_at"""


def _color(value: Any) -> str:
    match = _COLOR.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput("color must be #rrggbb", field="color")
    return "#" + match.group(1).lower()


def _label_name(value: Any) -> str:
    name = validation.text(value, "name", max_length=50, min_length=1, strip=True, single_line=True)
    if "," in name:
        raise InvalidInput("label names cannot contain commas", field="name")
    return name


def _ids(repository_id: int, actor_id: int) -> dict[str, Any]:
    return {
        "repository_id": validation.identifier(repository_id, "repository_id"),
        "actor": validation.identifier(actor_id, "actor_id"),
    }


def _viewer(repository_id: int, viewer_id: int | None) -> dict[str, Any]:
    return {
        "repository_id": validation.identifier(repository_id, "repository_id"),
        "viewer": None if viewer_id is None else validation.identifier(viewer_id, "viewer_id"),
    }


_WRITER: Final = guard(WRITE)


class IssueLabels(Namespace[R]):
    """Labels, milestones and assignees: the curation of issues (write access)."""

    __slots__ = ()

    # --- labels -----------------------------------------------------------------------------

    @operation
    def create_label(
        self,
        repository_id: int,
        *,
        actor_id: int,
        name: str,
        color: str = "#ededed",
        description: str = "",
    ) -> Query[Label]:
        """A new label (names are unique per repository case-insensitively)."""
        params = {
            **_ids(repository_id, actor_id),
            "name": _label_name(name),
            "color": _color(color),
            "description": validation.text(description, "description", max_length=100),
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER})
            INSERT INTO labels (repository_id, name, color, description)
            SELECT id, %(name)s, %(color)s, %(description)s FROM guard
            RETURNING {_LABEL}
            """,
            params,
            one(Label, "label not created"),
        )

    @operation
    def update_label(
        self,
        repository_id: int,
        label_id: int,
        *,
        actor_id: int,
        name: str = _UNSET,
        color: str = _UNSET,
        description: str = _UNSET,
    ) -> Query[Label]:
        """Rename, recolour or redescribe a label."""
        params = {
            **_ids(repository_id, actor_id),
            "label_id": validation.identifier(label_id, "label_id"),
            "name": _label_name(name) if name is not _UNSET else None,
            "color": _color(color) if color is not _UNSET else None,
            "description": (
                validation.text(description, "description", max_length=100)
                if description is not _UNSET
                else None
            ),
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER})
            UPDATE labels l SET name = coalesce(%(name)s, l.name),
                                color = coalesce(%(color)s, l.color),
                                description = coalesce(%(description)s, l.description)
            FROM guard WHERE l.repository_id = guard.id AND l.id = %(label_id)s
            RETURNING {", ".join("l." + c for c in _LABEL.split(", "))}
            """,
            params,
            one(Label, f"label {label_id} not found in repository {repository_id}"),
        )

    @operation
    def delete_label(self, repository_id: int, label_id: int, *, actor_id: int) -> Query[bool]:
        """Delete a label; it leaves every issue it was on."""
        params = {
            **_ids(repository_id, actor_id),
            "label_id": validation.identifier(label_id, "label_id"),
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER})
            DELETE FROM labels l USING guard WHERE l.repository_id = guard.id AND l.id = %(label_id)s
            """,
            params,
            affected,
        )

    @operation
    def list_labels(
        self, repository_id: int, *, viewer_id: int | None = None
    ) -> Query[list[Label]]:
        """The repository's labels by name."""
        return Query(
            f"""
            SELECT {_LABEL} FROM labels
            WHERE repository_id = %(repository_id)s
              AND can_read_repository(%(repository_id)s, %(viewer)s)
            ORDER BY lower(name), id
            """,
            _viewer(repository_id, viewer_id),
            many(Label),
        )

    @operation
    def set_labels(
        self,
        repository_id: int,
        number: int,
        *,
        actor_id: int,
        add: list[str] | None = None,
        remove: list[str] | None = None,
    ) -> Query[Issue]:
        """Attach and detach labels (by name) on issue ``#number``."""
        to_add = [_label_name(n).lower() for n in add or []]
        to_remove = [_label_name(n).lower() for n in remove or []]
        params = {
            **_ids(repository_id, actor_id),
            "number": validation.identifier(number, "number"),
            "add": to_add,
            "remove": to_remove,
        }
        labels_json = """coalesce((SELECT json_agg(json_build_object('id', l.id, 'name', l.name,
                            'color', l.color) ORDER BY lower(l.name))
                            FROM labels l WHERE l.repository_id = i.repository_id
                              AND l.id IN (SELECT label_id FROM final)), '[]')"""
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
            target AS (
                SELECT i.* FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
            ), wanted AS (
                SELECT l.id FROM labels l, guard
                WHERE l.repository_id = guard.id AND lower(l.name) = ANY(%(add)s::text[])
            ), checked AS (
                SELECT t.* FROM target t
                WHERE CASE WHEN (SELECT count(*) FROM wanted) < cardinality(%(add)s::text[])
                           THEN raise_error('FDI01', 'labels: some are not labels of this repository')
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
            params,
            one(Issue, f"issue #{number} not found in repository {repository_id}"),
        )

    # --- milestones -------------------------------------------------------------------------

    @operation
    def create_milestone(
        self,
        repository_id: int,
        *,
        actor_id: int,
        title: str,
        description: str = "",
        due_on: date | None = None,
    ) -> Query[Milestone]:
        """A new open milestone."""
        if due_on is not None and not isinstance(due_on, date):
            raise InvalidInput("due_on must be a date", field="due_on")
        params = {
            **_ids(repository_id, actor_id),
            "title": validation.text(title, "title", max_length=256, min_length=1, strip=True),
            "description": validation.text(description, "description", max_length=65536),
            "due_on": due_on,
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
            created AS (
                INSERT INTO milestones (repository_id, title, description, due_on)
                SELECT id, %(title)s, %(description)s, %(due_on)s FROM guard
                RETURNING *
            )
            SELECT m.id, m.repository_id, m.title, m.description, m.state, m.due_on, m.closed_at,
                   0 AS open_issues, 0 AS closed_issues, m.created_at
            FROM created m
            """,
            params,
            one(Milestone, "milestone not created"),
        )

    @operation
    def set_milestone_state(
        self, repository_id: int, milestone_id: int, *, actor_id: int, state: str
    ) -> Query[Milestone]:
        """Close or reopen a milestone."""
        if state not in ("open", "closed"):
            raise InvalidInput("state must be open or closed", field="state")
        params = {
            **_ids(repository_id, actor_id),
            "milestone_id": validation.identifier(milestone_id, "milestone_id"),
            "state": state,
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
            changed AS (
                UPDATE milestones m SET state = %(state)s,
                    closed_at = CASE WHEN %(state)s = 'closed' THEN coalesce(m.closed_at, now()) END
                FROM guard WHERE m.repository_id = guard.id AND m.id = %(milestone_id)s
                RETURNING m.*
            )
            SELECT {_MILESTONE} FROM changed m
            """,
            params,
            one(Milestone, f"milestone {milestone_id} not found in repository {repository_id}"),
        )

    @operation
    def list_milestones(
        self, repository_id: int, *, viewer_id: int | None = None, state: str = "open"
    ) -> Query[list[Milestone]]:
        """Milestones with their progress, soonest due first."""
        if state not in ("open", "closed", "all"):
            raise InvalidInput("state must be open, closed or all", field="state")
        return Query(
            f"""
            SELECT {_MILESTONE} FROM milestones m
            WHERE m.repository_id = %(repository_id)s
              AND (%(state)s = 'all' OR m.state = %(state)s)
              AND can_read_repository(%(repository_id)s, %(viewer)s)
            ORDER BY m.due_on NULLS LAST, m.id
            """,
            {**_viewer(repository_id, viewer_id), "state": state},
            many(Milestone),
        )

    @operation
    def set_milestone(
        self, repository_id: int, number: int, *, actor_id: int, milestone_id: int | None
    ) -> Query[Issue]:
        """Put issue ``#number`` in a milestone of its repository (``None``: in none)."""
        params = {
            **_ids(repository_id, actor_id),
            "number": validation.identifier(number, "number"),
            "milestone_id": (
                validation.identifier(milestone_id, "milestone_id")
                if milestone_id is not None
                else None
            ),
        }
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
            target AS (
                UPDATE issues i SET milestone_id = %(milestone_id)s FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                RETURNING i.*
            )
            SELECT {detail_columns()} FROM target i {ISSUE_FROM}
            """,
            params,
            one(Issue, f"issue #{number} not found in repository {repository_id}"),
        )

    # --- assignees --------------------------------------------------------------------------

    @operation
    def assign(
        self, repository_id: int, number: int, *, actor_id: int, user_ids: list[int]
    ) -> Query[Issue]:
        """Assign users who can see the repository (at most 10 per issue); they are notified."""
        ids = list(dict.fromkeys(validation.identifier(u, "user_ids") for u in user_ids))
        if not ids:
            raise InvalidInput("user_ids must name at least one user", field="user_ids")
        params = {
            **_ids(repository_id, actor_id),
            "number": validation.identifier(number, "number"),
            "user_ids": ids,
            "comment_id": None,
        }
        assignees_json = """coalesce((SELECT json_agg(json_build_object('id', u.id,
                            'username', u.username) ORDER BY lower(u.username))
                            FROM users u WHERE u.id IN (SELECT user_id FROM final)), '[]')"""
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
            target AS (
                SELECT i.* FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
            ), eligible AS (
                SELECT u.id FROM users u, guard
                WHERE u.id = ANY(%(user_ids)s::bigint[]) AND u.active
                  AND can_read_repository(guard.id, u.id)
            ), checked AS (
                SELECT t.* FROM target t
                WHERE CASE WHEN (SELECT count(*) FROM eligible) < cardinality(%(user_ids)s::bigint[])
                           THEN raise_error('FDI01', 'user_ids: some cannot see this repository')
                                IS NULL
                           ELSE true END
            ), added AS (
                INSERT INTO issue_assignees (repository_id, issue_id, user_id)
                SELECT c.repository_id, c.id, e.id FROM checked c, eligible e
                ON CONFLICT DO NOTHING
                RETURNING user_id
            ), final AS (
                SELECT ia.user_id FROM issue_assignees ia, checked c
                WHERE ia.repository_id = c.repository_id AND ia.issue_id = c.id
                UNION SELECT user_id FROM added
            ), candidates AS (
                SELECT user_id, 'assign' AS reason, 1 AS priority FROM added
            ), {FANOUT},
            touched AS (
                UPDATE issues i SET updated_at = now() FROM checked c WHERE i.id = c.id
                RETURNING i.*
            )
            SELECT {detail_columns(assignees=assignees_json)}
            FROM touched i {ISSUE_FROM}
            """,
            params,
            one(Issue, f"issue #{number} not found in repository {repository_id}"),
        )

    @operation
    def unassign(
        self, repository_id: int, number: int, *, actor_id: int, user_ids: list[int]
    ) -> Query[Issue]:
        """Remove assignees."""
        params = {
            **_ids(repository_id, actor_id),
            "number": validation.identifier(number, "number"),
            "user_ids": [validation.identifier(u, "user_ids") for u in user_ids],
        }
        assignees_json = """coalesce((SELECT json_agg(json_build_object('id', u.id,
                            'username', u.username) ORDER BY lower(u.username))
                            FROM issue_assignees ia JOIN users u ON u.id = ia.user_id
                            WHERE ia.repository_id = i.repository_id AND ia.issue_id = i.id
                              AND ia.user_id NOT IN (SELECT user_id FROM removed)), '[]')"""
        return Query(
            f"""
            WITH guard AS ({_WRITER}),
            target AS (
                SELECT i.* FROM issues i, guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
            ), removed AS (
                DELETE FROM issue_assignees ia USING target t
                WHERE ia.repository_id = t.repository_id AND ia.issue_id = t.id
                  AND ia.user_id = ANY(%(user_ids)s::bigint[])
                RETURNING ia.user_id
            )
            SELECT {detail_columns(assignees=assignees_json)}
            FROM target i {ISSUE_FROM}
            """,
            params,
            one(Issue, f"issue #{number} not found in repository {repository_id}"),
        )
