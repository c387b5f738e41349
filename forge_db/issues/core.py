"""Issues themselves: create, read, list, search, edit, close, lock, counts."""

from __future__ import annotations

import builtins
from functools import lru_cache
from typing import Any, Final, Literal

from .. import validation
from ..access import READ, WRITE, guard
from ..errors import InvalidInput, register_constraint_messages
from ..pagination import Page, decode_cursor, page_size, paged
from ..query import Namespace, Query, R, many, one, operation
from ..text import extract_mentions, search_terms
from .models import CloseReason, CountDrift, Issue, IssueCounts, IssueSummary, SearchHit
from .sql import FANOUT, ISSUE_DETAIL, ISSUE_FROM, ISSUE_SUMMARY, author_or_writer, summary_columns

__all__ = ["IssueCore", "Sort", "State"]

State = Literal["open", "closed", "all"]
Sort = Literal["created", "updated", "comments"]
_SORT_COLUMN: Final = {
    "created": "created_at",
    "updated": "updated_at",
    "comments": "comment_count",
}
_MAX_LABELS: Final = 20
_MAX_ASSIGNEES: Final = 10

register_constraint_messages(
    {
        "issues_title_check": "title: 1-256 characters, not blank",
        "issues_body_check": "body: at most 65536 characters",
        "issues_repository_id_number_key": "an issue with this number",
        "issues_duplicate_of_check": "an issue cannot duplicate itself",
        "issue_assignees_limit": "an issue has at most 10 assignees",
    }
)


def title_of(value: Any) -> str:
    """A title: 1-256 characters once surrounding whitespace is trimmed."""
    return validation.text(
        value, "title", max_length=256, min_length=1, strip=True, single_line=True
    )


def body_of(value: Any, field: str = "body") -> str:
    """A body of at most 64 KiB of text."""
    return validation.text(value, field, max_length=65536)


def _names(values: Any, field: str, limit: int) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{field} must be a list of names", field=field)
    names = list(dict.fromkeys(v.lower() for v in values))
    if len(names) > limit:
        raise InvalidInput(f"{field}: at most {limit}", field=field)
    for name in names:
        validation.text(name, field, max_length=100, min_length=1)
    return names


def _ids(values: Any, field: str, limit: int) -> list[int]:
    if values is None:
        return []
    ids = list(dict.fromkeys(validation.identifier(v, field) for v in values))
    if len(ids) > limit:
        raise InvalidInput(f"{field}: at most {limit}", field=field)
    return ids


def _viewer(viewer_id: int | None) -> int | None:
    return None if viewer_id is None else validation.identifier(viewer_id, "viewer_id")


def _missing(repository_id: int, number: int) -> str:
    return f"issue #{number} not found in repository {repository_id}"


_FILTERS: Final = (
    "i.state = %(state)s",
    "",  # labels: one EXISTS per label, see _has_label
    """EXISTS (SELECT 1 FROM issue_labels il JOIN labels l ON l.id = il.label_id
               WHERE il.repository_id = i.repository_id AND il.issue_id = i.id
                 AND lower(l.name) = ANY(%(any_labels)s::text[]))""",
    """NOT EXISTS (SELECT 1 FROM issue_labels il
                   WHERE il.repository_id = i.repository_id AND il.issue_id = i.id)""",
    """EXISTS (SELECT 1 FROM issue_assignees ia
               WHERE ia.repository_id = i.repository_id AND ia.issue_id = i.id
                 AND ia.user_id = %(assignee_id)s)""",
    "i.assignee_count = 0",
    "i.author_id = %(author_id)s",
    "i.milestone_id = %(milestone_id)s",
    """EXISTS (SELECT 1 FROM mentions m
               WHERE m.repository_id = i.repository_id AND m.issue_id = i.id
                 AND m.mentioned_user_id = %(mentioned_id)s)""",
)


def _has_label(k: int) -> str:
    # One semi-join per required label, its id looked up once (an InitPlan): the planner
    # estimates these well and keeps walking the ordered index, stopping after a page.
    return f"""EXISTS (SELECT 1 FROM issue_labels il
                       WHERE il.repository_id = i.repository_id AND il.issue_id = i.id
                         AND il.label_id = (SELECT id FROM labels
                                            WHERE repository_id = %(repository_id)s
                                              AND lower(name) = (%(labels)s::text[])[{k}]))"""


@lru_cache(maxsize=512)
def _list_sql(*flags: Any) -> str:
    """The list statement for one combination of filters and order (built once, then cached).

    Only allow-listed fragments go in: which filters apply, a sort column from _SORT_COLUMN and
    a direction; every value travels as a parameter.
    """
    *wanted, keyset, column, descending = flags
    conditions = ["i.repository_id = %(repository_id)s"]
    conditions += [
        fragment for fragment, on in zip(_FILTERS, wanted, strict=True) if on and fragment
    ]
    conditions += [_has_label(k) for k in range(1, int(wanted[1]) + 1)]
    if keyset:
        conditions.append(
            f"(i.{column}, i.id) {'<' if descending else '>'} (%(after_value)s, %(after_id)s)"
        )
    order = "DESC" if descending else "ASC"
    return f"""
        SELECT {ISSUE_SUMMARY}
        FROM issues i {ISSUE_FROM}
        WHERE {" AND ".join(conditions)}
          AND can_read_repository(%(repository_id)s, %(viewer)s)
        ORDER BY i.{column} {order}, i.id {order}
        LIMIT %(limit)s
    """


_GET_ISSUE: Final = f"""
    SELECT {ISSUE_DETAIL}
    FROM issues i {ISSUE_FROM}
    WHERE i.repository_id = %(repository_id)s AND i.number = %(number)s
      AND can_read_repository(%(repository_id)s, %(viewer)s)
"""


class IssueCore(Namespace[R]):
    """Creating, reading, listing, searching and changing issues."""

    __slots__ = ()

    @operation
    def create(
        self,
        *,
        repository_id: int,
        author_id: int,
        title: str,
        body: str = "",
        labels: list[str] | None = None,
        assignees: list[int] | None = None,
        milestone_id: int | None = None,
    ) -> Query[Issue]:
        """Open an issue: its number, labels, assignees, mentions and notifications, at once.

        Anyone who can read the repository may open one; labels and assignees need write
        access. Labels are names of the repository's labels; assignees must be able to see the
        repository. ``@mentions`` in the body (outside code) notify the users they name.
        """
        clean_body = body_of(body)
        label_names = _names(labels, "labels", _MAX_LABELS)
        assignee_ids = _ids(assignees, "assignees", _MAX_ASSIGNEES)
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "actor": validation.identifier(author_id, "author_id"),
            "title": title_of(title),
            "body": clean_body,
            "labels": label_names,
            "assignees": assignee_ids,
            "milestone_id": (
                validation.identifier(milestone_id, "milestone_id")
                if milestone_id is not None
                else None
            ),
            "curated": bool(label_names or assignee_ids or milestone_id is not None),
            "mentions": extract_mentions(clean_body),
            "comment_id": None,
        }
        labels_json = """coalesce((SELECT json_agg(json_build_object('id', id, 'name', name,
                            'color', color) ORDER BY lower(name)) FROM chosen_labels), '[]')"""
        assignees_json = """coalesce((SELECT json_agg(json_build_object('id', id, 'username',
                            username) ORDER BY lower(username)) FROM chosen_assignees), '[]')"""
        return Query(
            f"""
            WITH guard AS (
                SELECT repository_guard(%(repository_id)s, %(actor)s,
                                        CASE WHEN %(curated)s THEN 2 ELSE 1 END::smallint,
                                        true) AS id
            ), chosen_labels AS (
                SELECT l.id, l.name, l.color FROM labels l, guard
                WHERE l.repository_id = guard.id AND lower(l.name) = ANY(%(labels)s::text[])
            ), chosen_assignees AS (
                SELECT u.id, u.username FROM users u, guard
                WHERE u.id = ANY(%(assignees)s::bigint[]) AND u.active
                  AND can_read_repository(guard.id, u.id)
            ), checked AS (
                SELECT guard.id,
                       CASE WHEN (SELECT count(*) FROM chosen_labels)
                                 < cardinality(%(labels)s::text[])
                            THEN raise_error('FDI01', 'labels: some are not labels of this repository')
                            WHEN (SELECT count(*) FROM chosen_assignees)
                                 < cardinality(%(assignees)s::bigint[])
                            THEN raise_error('FDI01', 'assignees: some cannot see this repository')
                       END AS refused
                FROM guard
            ), target AS (
                INSERT INTO issues (repository_id, number, author_id, title, body, milestone_id)
                SELECT id, get_next_issue_number(id), %(actor)s, %(title)s, %(body)s,
                       %(milestone_id)s
                FROM checked
                RETURNING *
            ), labelled AS (
                INSERT INTO issue_labels (repository_id, issue_id, label_id)
                SELECT t.repository_id, t.id, l.id FROM target t, chosen_labels l
            ), assigned AS (
                INSERT INTO issue_assignees (repository_id, issue_id, user_id)
                SELECT t.repository_id, t.id, a.id FROM target t, chosen_assignees a
            ), mentioned AS (
                INSERT INTO mentions (repository_id, issue_id, mentioned_user_id)
                SELECT t.repository_id, t.id, u.id FROM target t
                JOIN users u ON lower(u.username) = ANY(%(mentions)s::text[])
                RETURNING mentioned_user_id
            ), candidates AS (
                SELECT mentioned_user_id AS user_id, 'mention' AS reason, 1 AS priority
                FROM mentioned
                UNION ALL
                SELECT id, 'assign', 2 FROM chosen_assignees
                UNION ALL
                SELECT w.user_id, 'subscribed', 3 FROM watches w, target t
                WHERE w.repository_id = t.repository_id AND w.level = 'watching'
            ), {FANOUT}
            SELECT {summary_columns(labels_json, assignees_json)},
                   i.body, NULL::bigint AS duplicate_of, i.edited_at, '{{}}'::json AS reactions
            FROM target i
            LEFT JOIN users au ON au.id = i.author_id
            """,
            params,
            one(Issue, "issue not created"),
        )

    @operation
    def get(self, repository_id: int, number: int, *, viewer_id: int | None = None) -> Query[Issue]:
        """Issue ``#number`` with labels, assignees and reaction counts, if visible."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            _GET_ISSUE,
            params,
            one(Issue, _missing(repository_id, number)),
        )

    @operation
    def list(
        self,
        repository_id: int,
        *,
        viewer_id: int | None = None,
        state: State = "open",
        labels: list[str] | None = None,
        any_labels: list[str] | None = None,
        no_labels: bool = False,
        assignee_id: int | None = None,
        no_assignee: bool = False,
        author_id: int | None = None,
        milestone_id: int | None = None,
        mentioned_id: int | None = None,
        sort: Sort = "created",
        direction: Literal["asc", "desc"] = "desc",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Query[Page[IssueSummary]]:
        """A keyset page of issues with filters (all combine with AND) and a sort order.

        ``labels``: has all of these; ``any_labels``: has at least one; ``no_labels``: has
        none. The cursor is bound to the repository, the filters and the order.
        """
        if state not in ("open", "closed", "all"):
            raise InvalidInput("state must be open, closed or all", field="state")
        if sort not in _SORT_COLUMN:
            raise InvalidInput("sort must be created, updated or comments", field="sort")
        if direction not in ("asc", "desc"):
            raise InvalidInput("direction must be asc or desc", field="direction")
        size = page_size(limit)
        label_names = sorted(_names(labels, "labels", _MAX_LABELS))
        filters: dict[str, Any] = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "state": state,
            "labels": label_names,
            "any_labels": sorted(_names(any_labels, "any_labels", _MAX_LABELS)),
            "no_labels": bool(no_labels),
            "assignee_id": validation.identifier(assignee_id, "assignee_id")
            if assignee_id
            else None,
            "no_assignee": bool(no_assignee),
            "author_id": validation.identifier(author_id, "author_id") if author_id else None,
            "milestone_id": validation.identifier(milestone_id, "milestone_id")
            if milestone_id
            else None,
            "mentioned_id": validation.identifier(mentioned_id, "mentioned_id")
            if mentioned_id
            else None,
        }
        scope = ("issues", *filters.values(), sort, direction)
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        statement = _list_sql(
            state != "all",
            len(label_names),
            bool(filters["any_labels"]),
            bool(filters["no_labels"]),
            bool(filters["assignee_id"]),
            bool(filters["no_assignee"]),
            bool(filters["author_id"]),
            bool(filters["milestone_id"]),
            bool(filters["mentioned_id"]),
            after[0] is not None,
            _SORT_COLUMN[sort],
            direction == "desc",
        )
        params = {
            **filters,
            "viewer": _viewer(viewer_id),
            "after_value": after[0],
            "after_id": after[1],
            "limit": size + 1,
        }
        sort_attribute = _SORT_COLUMN[sort]
        return Query(
            statement,
            params,
            paged(IssueSummary, size, scope, lambda i: (getattr(i, sort_attribute), i.id)),
        )

    @operation
    def search(
        self,
        repository_id: int,
        query: str,
        *,
        viewer_id: int | None = None,
        state: State = "all",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Query[Page[SearchHit]]:
        """Full-text search over titles and bodies: prefix matching, ranked; ``#123`` finds #123."""
        text = validation.text(query, "query", max_length=256)
        tsquery, numbers = search_terms(text)
        if tsquery is None and not numbers:
            raise InvalidInput("query has no words to search for", field="query")
        if state not in ("open", "closed", "all"):
            raise InvalidInput("state must be open, closed or all", field="state")
        size = page_size(limit)
        scope = ("issues.search", repository_id, text, state)
        after = decode_cursor(cursor, scope, 2) if cursor is not None else [None, None]
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "tsquery": tsquery,
            "numbers": numbers,
            "state": state,
            "viewer": _viewer(viewer_id),
            "after_rank": after[0],
            "after_id": after[1],
            "limit": size + 1,
        }
        # A number match outranks every text match (text ranks stay below 1).
        return Query(
            f"""
            WITH q AS (
                SELECT to_tsquery('simple', coalesce(%(tsquery)s, '')) AS query
            ), hits AS (
                SELECT i.id,
                       CASE WHEN i.number = ANY(%(numbers)s::bigint[]) THEN 2.0
                            ELSE ts_rank_cd(i.search_vector, q.query, 32)::float8 END AS rank
                FROM issues i, q
                WHERE i.repository_id = %(repository_id)s
                  AND (%(state)s = 'all' OR i.state = %(state)s)
                  AND ((%(tsquery)s::text IS NOT NULL AND i.search_vector @@ q.query)
                       OR i.number = ANY(%(numbers)s::bigint[]))
                  AND can_read_repository(%(repository_id)s, %(viewer)s)
            ), page AS (
                -- Rank every match, but build rows (labels, author) only for one page.
                SELECT id, rank FROM hits
                WHERE %(after_rank)s::float8 IS NULL
                   OR (rank, id) < (%(after_rank)s::float8, %(after_id)s::bigint)
                ORDER BY rank DESC, id DESC
                LIMIT %(limit)s
            )
            SELECT {ISSUE_SUMMARY}, p.rank
            FROM page p JOIN issues i ON i.id = p.id {ISSUE_FROM}
            ORDER BY p.rank DESC, i.id DESC
            """,
            params,
            paged(SearchHit, size, scope, lambda hit: (hit.rank, hit.id)),
        )

    @operation
    def update(
        self,
        repository_id: int,
        number: int,
        *,
        actor_id: int,
        title: str | None = None,
        body: str | None = None,
    ) -> Query[Issue]:
        """Edit the title and/or body (the author, or write access); records the edit time."""
        if title is None and body is None:
            raise InvalidInput("nothing to change: give a title or a body", field="title")
        clean_body = body_of(body) if body is not None else None
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "title": title_of(title) if title is not None else None,
            "body": clean_body,
            "mentions": extract_mentions(clean_body) if clean_body is not None else [],
            "comment_id": None,
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ)}
            ), target AS (
                UPDATE issues i SET
                    title = coalesce(%(title)s, i.title),
                    body = coalesce(%(body)s, i.body),
                    edited_at = now()
                FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                  AND {author_or_writer("i", "edit an issue")}
                RETURNING i.*
            ), old_mentions AS (
                SELECT m.mentioned_user_id FROM mentions m, target t
                WHERE m.repository_id = t.repository_id AND m.issue_id = t.id
                  AND m.comment_id IS NULL
            ), mentioned AS (
                INSERT INTO mentions (repository_id, issue_id, mentioned_user_id)
                SELECT t.repository_id, t.id, u.id FROM target t
                JOIN users u ON lower(u.username) = ANY(%(mentions)s::text[])
                ON CONFLICT DO NOTHING
                RETURNING mentioned_user_id
            ), unmentioned AS (
                DELETE FROM mentions m USING target t, users u
                WHERE %(body)s::text IS NOT NULL
                  AND m.repository_id = t.repository_id AND m.issue_id = t.id
                  AND m.comment_id IS NULL AND u.id = m.mentioned_user_id
                  AND NOT lower(u.username) = ANY(%(mentions)s::text[])
            ), candidates AS (
                SELECT mentioned_user_id AS user_id, 'mention' AS reason, 1 AS priority
                FROM mentioned
                WHERE mentioned_user_id NOT IN (SELECT mentioned_user_id FROM old_mentions)
            ), {FANOUT}
            SELECT {ISSUE_DETAIL}
            FROM target i {ISSUE_FROM}
            """,
            params,
            one(Issue, _missing(repository_id, number)),
        )

    @operation
    def close(
        self,
        repository_id: int,
        number: int,
        *,
        actor_id: int,
        reason: CloseReason = "completed",
        duplicate_of: int | None = None,
    ) -> Query[Issue]:
        """Close with a reason (the author, or write access); ``duplicate`` names the original."""
        if reason not in ("completed", "not_planned", "duplicate"):
            raise InvalidInput("reason must be completed, not_planned or duplicate", field="reason")
        if (reason == "duplicate") != (duplicate_of is not None):
            raise InvalidInput(
                "duplicate_of goes with reason duplicate, and only with it", field="duplicate_of"
            )
        if duplicate_of is not None and duplicate_of == number:
            raise InvalidInput("an issue cannot duplicate itself", field="duplicate_of")
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "reason": reason,
            "duplicate_of": (
                validation.identifier(duplicate_of, "duplicate_of")
                if duplicate_of is not None
                else None
            ),
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ)}
            ), original AS (
                SELECT o.id FROM issues o, guard
                WHERE o.repository_id = guard.id AND o.number = %(duplicate_of)s
            ), target AS (
                UPDATE issues i SET
                    state = 'closed',
                    close_reason = %(reason)s,
                    closed_at = CASE WHEN i.state = 'closed' THEN i.closed_at ELSE now() END,
                    duplicate_of_id = CASE
                        WHEN %(duplicate_of)s::bigint IS NULL THEN NULL
                        ELSE coalesce((SELECT id FROM original),
                                      raise_error('FDN01', 'the duplicated issue does not exist'))
                    END
                FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                  AND {author_or_writer("i", "close an issue")}
                RETURNING i.*
            )
            SELECT {ISSUE_DETAIL}
            FROM target i {ISSUE_FROM}
            """,
            params,
            one(Issue, _missing(repository_id, number)),
        )

    @operation
    def reopen(self, repository_id: int, number: int, *, actor_id: int) -> Query[Issue]:
        """Reopen a closed issue (the author, or write access)."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "actor": validation.identifier(actor_id, "actor_id"),
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(READ)}
            ), target AS (
                UPDATE issues i SET state = 'open', close_reason = NULL, closed_at = NULL,
                                    duplicate_of_id = NULL
                FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                  AND {author_or_writer("i", "reopen an issue")}
                RETURNING i.*
            )
            SELECT {ISSUE_DETAIL}
            FROM target i {ISSUE_FROM}
            """,
            params,
            one(Issue, _missing(repository_id, number)),
        )

    @operation
    def set_locked(
        self, repository_id: int, number: int, *, actor_id: int, locked: bool
    ) -> Query[Issue]:
        """Lock (only writers may comment) or unlock an issue's conversation (write access)."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "number": validation.identifier(number, "number"),
            "actor": validation.identifier(actor_id, "actor_id"),
            "locked": bool(locked),
        }
        return Query(
            f"""
            WITH guard AS (
                {guard(WRITE)}
            ), target AS (
                UPDATE issues i SET locked = %(locked)s FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                RETURNING i.*
            )
            SELECT {ISSUE_DETAIL}
            FROM target i {ISSUE_FROM}
            """,
            params,
            one(Issue, _missing(repository_id, number)),
        )

    @operation
    def counts(self, repository_id: int, *, viewer_id: int | None = None) -> Query[IssueCounts]:
        """Open and closed issue counts, read in O(1) from what the database maintains."""
        params = {
            "repository_id": validation.identifier(repository_id, "repository_id"),
            "viewer": _viewer(viewer_id),
        }
        return Query(
            """
            SELECT coalesce(c.open_issue_count, 0) AS open,
                   coalesce(c.closed_issue_count, 0) AS closed
            FROM (SELECT %(repository_id)s::bigint AS id) r
            LEFT JOIN issue_counters c ON c.repository_id = r.id
            WHERE can_read_repository(r.id, %(viewer)s)
            """,
            params,
            one(IssueCounts, f"repository {repository_id} not found"),
        )

    @operation
    def check_counts(self, repository_id: int | None = None) -> Query[builtins.list[CountDrift]]:
        """Recount open/closed issues; the repositories whose stored counts drifted (an audit)."""
        rid = (
            None if repository_id is None else validation.identifier(repository_id, "repository_id")
        )
        return Query(
            """
            SELECT repository_id, stored_open, stored_closed, actual_open, actual_closed
            FROM check_issue_counts(%s)
            """,
            (rid,),
            many(CountDrift),
        )
