"""``db.issues``: issues themselves: open, read, list, search, edit, close, lock, count.

Anyone who can read a repository may open an issue and comment; labels, assignees, milestones
and locks need the write role; the author or a writer may edit, close and reopen.
"""

from __future__ import annotations

import builtins
from functools import lru_cache
from typing import Annotated, Any, Final, Literal

from ..access import author_or_role, guard, readable
from ..collaboration.fanout import fan_out
from ..errors import InvalidInput, register_constraint_messages
from ..inputs import Body, Cursor, Flag, Id, IdList, Limit, Names, Text, Title
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, many, one, read, write
from ..text import extract_mentions, search_terms
from .assignees import Assignees
from .comments import Comments
from .labels import Labels
from .links import Links
from .milestones import Milestones
from .models import CloseReason, CountDrift, Issue, IssueCounts, IssueSummary, SearchHit
from .pins import Pins
from .sql import ISSUE_DETAIL, ISSUE_FROM, ISSUE_SUMMARY, detail_columns, summary_columns

__all__ = ["Issues", "Sort", "State"]

State = Literal["open", "closed", "all"]
Sort = Literal["created", "updated", "comments"]
Direction = Literal["asc", "desc"]
SearchText = Annotated[str, Text(256, sample="crash")]

_SORT_FIELD: Final = {"created": "created_at", "updated": "updated_at", "comments": "comment_count"}
_ORDERS: Final = {
    (sort, field): Keyset(IssueSummary, field, "id") for sort, field in _SORT_FIELD.items()
}
_BY_RANK: Final = Keyset(SearchHit, "rank", "id")
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

# The filters of a list, by the parameter that turns each on. Labels (all of them required) are
# one semi-join per label, built in _list_statement: the planner estimates those well and keeps
# walking the ordered index, stopping after a page.
_FILTERS: Final = {
    "state": "i.state = %(state)s",
    "any_labels": """EXISTS (SELECT 1 FROM issue_labels il JOIN labels l ON l.id = il.label_id
               WHERE il.repository_id = i.repository_id AND il.issue_id = i.id
                 AND lower(l.name) = ANY(%(any_labels)s::text[]))""",
    "no_labels": """NOT EXISTS (SELECT 1 FROM issue_labels il
                   WHERE il.repository_id = i.repository_id AND il.issue_id = i.id)""",
    "assignee_id": """EXISTS (SELECT 1 FROM issue_assignees ia
               WHERE ia.repository_id = i.repository_id AND ia.issue_id = i.id
                 AND ia.user_id = %(assignee_id)s)""",
    "no_assignee": "i.assignee_count = 0",
    "author_id": "i.author_id = %(author_id)s",
    "milestone_id": "i.milestone_id = %(milestone_id)s",
    "mentioned_id": """EXISTS (SELECT 1 FROM mentions m
               WHERE m.repository_id = i.repository_id AND m.issue_id = i.id
                 AND m.mentioned_user_id = %(mentioned_id)s)""",
}


def _has_label(k: int) -> str:
    return f"""EXISTS (SELECT 1 FROM issue_labels il
                       WHERE il.repository_id = i.repository_id AND il.issue_id = i.id
                         AND il.label_id = (SELECT id FROM labels
                                            WHERE repository_id = %(repository_id)s
                                              AND lower(name) = (%(labels)s::text[])[{k}]))"""


@lru_cache(maxsize=1024)
def _list_statement(
    filters: frozenset[str], labels: int, keyset: bool, field: str, descending: bool
) -> str:
    """The list statement for one combination of filters and order, built once and cached.

    Only allow-listed text goes in: the fragments of ``_FILTERS`` by name, a sort column from
    ``_SORT_FIELD`` and a direction; every value travels as a parameter.
    """
    conditions = ["i.repository_id = %(repository_id)s"]
    conditions += [fragment for name, fragment in _FILTERS.items() if name in filters]
    conditions += [_has_label(k) for k in range(1, labels + 1)]
    if keyset:
        conditions.append(
            f"(i.{field}, i.id) {'<' if descending else '>'} (%(after_value)s, %(after_id)s)"
        )
    order = "DESC" if descending else "ASC"
    return f"""
        SELECT {ISSUE_SUMMARY}
        FROM issues i {ISSUE_FROM}
        WHERE {" AND ".join(conditions)}
          AND {readable()}
        ORDER BY i.{field} {order}, i.id {order}
        LIMIT %(limit)s
    """


_GET: Final = f"""
    SELECT {ISSUE_DETAIL}
    FROM issues i {ISSUE_FROM}
    WHERE i.repository_id = %(repository_id)s AND i.number = %(number)s
      AND {readable()}
"""


@lru_cache(maxsize=2)
def _create_sql(curated: bool) -> str:
    """The statement that opens an issue; labels, assignees or a milestone need the write role."""
    labels_json = """coalesce((SELECT json_agg(json_build_object('id', id, 'name', name,
                        'color', color) ORDER BY lower(name)) FROM chosen_labels), '[]')"""
    assignees_json = """coalesce((SELECT json_agg(json_build_object('id', id, 'username',
                        username) ORDER BY lower(username)) FROM chosen_assignees), '[]')"""
    return f"""
            WITH guard AS (
                {guard("write" if curated else "read")}
            ), chosen_labels AS (
                SELECT l.id, l.name, l.color FROM labels l, guard
                WHERE l.repository_id = guard.id AND lower(l.name) = ANY(%(labels)s::text[])
            ), chosen_assignees AS (
                SELECT u.id, u.username FROM users u, guard
                WHERE u.id = ANY(%(assignees)s::bigint[]) AND u.active
                  AND {readable("guard.id", "u.id")}
            ), checked AS (
                SELECT guard.id,
                       CASE WHEN (SELECT count(*) FROM chosen_labels)
                                 < cardinality(%(labels)s::text[])
                            THEN raise_invalid('labels', 'some are not labels of this repository')
                            WHEN (SELECT count(*) FROM chosen_assignees)
                                 < cardinality(%(assignees)s::bigint[])
                            THEN raise_invalid('assignees', 'some cannot see this repository')
                       END AS refused
                FROM guard
            ), target AS (
                INSERT INTO issues (repository_id, number, author_id, title, body, milestone_id)
                SELECT id, get_next_issue_number(id), %(actor_id)s, %(title)s, %(body)s,
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
            ), {fan_out(subject="target", candidates="candidates", issue="s.id")}
            SELECT {summary_columns(labels_json, assignees_json)},
                   i.body, NULL::bigint AS duplicate_of, i.edited_at, '{{}}'::json AS reactions
            FROM target i
            LEFT JOIN users au ON au.id = i.author_id
            """


def _missing(repository_id: int, number: int) -> str:
    return f"issue #{number} not found in repository {repository_id}"


_SEARCH: Final = f"""
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
                  AND {readable()}
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
            """


class Issues(Namespace[R]):
    """Issues; ``comments``, ``labels``, ``milestones``, ``assignees``, ``links`` and ``pins``
    are their parts."""

    comments: Comments[R]
    labels: Labels[R]
    milestones: Milestones[R]
    assignees: Assignees[R]
    links: Links[R]
    pins: Pins[R]

    @write
    def create(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        title: Title,
        body: Body = "",
        labels: Names | None = None,
        assignees: IdList | None = None,
        milestone_id: Id | None = None,
    ) -> Query[Issue]:
        """Open an issue: its number, labels, assignees, mentions and notifications, at once.

        Anyone who can read the repository may open one; labels, assignees and a milestone need
        the write role. Labels are names of the repository's labels; assignees must be able to
        see the repository. ``@mentions`` in the body (outside code) notify the users they name.
        """
        label_names = labels or []
        assignee_ids = assignees or []
        if len(assignee_ids) > _MAX_ASSIGNEES:
            raise InvalidInput(f"assignees: at most {_MAX_ASSIGNEES}", field="assignees")
        curated = bool(label_names or assignee_ids or milestone_id is not None)
        return Query(
            _create_sql(curated),
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "title": title,
                "body": body,
                "labels": label_names,
                "assignees": assignee_ids,
                "milestone_id": milestone_id,
                "mentions": extract_mentions(body),
            },
            one(Issue, "issue not created"),
        )

    @read
    def get(self, repository_id: Id, number: Id, *, viewer_id: Id | None = None) -> Query[Issue]:
        """Issue ``#number`` with labels, assignees and reaction counts, if visible."""
        return Query(
            _GET,
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            one(Issue, _missing(repository_id, number)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        state: State = "open",
        labels: Names | None = None,
        any_labels: Names | None = None,
        no_labels: Flag = False,
        assignee_id: Id | None = None,
        no_assignee: Flag = False,
        author_id: Id | None = None,
        milestone_id: Id | None = None,
        mentioned_id: Id | None = None,
        sort: Sort = "created",
        direction: Direction = "desc",
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[IssueSummary]]:
        """A keyset page of issues with filters (all combine with AND) and a sort order.

        ``labels``: has all of these; ``any_labels``: has at least one; ``no_labels``: has
        none. The cursor is bound to the repository, the filters and the order.
        """
        size = page_size(limit)
        filters: dict[str, Any] = {
            "state": state if state != "all" else None,
            "labels": sorted(labels or []),
            "any_labels": sorted(any_labels or []),
            "no_labels": no_labels or None,
            "assignee_id": assignee_id,
            "no_assignee": no_assignee or None,
            "author_id": author_id,
            "milestone_id": milestone_id,
            "mentioned_id": mentioned_id,
        }
        field = _SORT_FIELD[sort]
        order = _ORDERS[sort, field]
        scope = ("issues", repository_id, *filters.values(), sort, direction)
        after_value, after_id = order.after(cursor, scope)
        statement = _list_statement(
            frozenset(name for name, value in filters.items() if value and name in _FILTERS),
            len(filters["labels"]),
            after_id is not None,
            field,
            direction == "desc",
        )
        return Query(
            statement,
            {
                **filters,
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "after_value": after_value,
                "after_id": after_id,
                "limit": size + 1,
            },
            order.page(size, scope),
        )

    @read
    def search(
        self,
        repository_id: Id,
        query: SearchText,
        *,
        viewer_id: Id | None = None,
        state: State = "all",
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[SearchHit]]:
        """Full-text search over titles and bodies: prefix matching, ranked; ``#123`` finds #123."""
        tsquery, numbers = search_terms(query)
        if tsquery is None and not numbers:
            raise InvalidInput("query has no words to search for", field="query")
        size = page_size(limit)
        scope = ("issues.search", repository_id, query, state)
        after_rank, after_id = _BY_RANK.after(cursor, scope)
        # A number match outranks every text match (text ranks stay below 1).
        return Query(
            _SEARCH,
            {
                "repository_id": repository_id,
                "tsquery": tsquery,
                "numbers": numbers,
                "state": state,
                "viewer_id": viewer_id,
                "after_rank": after_rank,
                "after_id": after_id,
                "limit": size + 1,
            },
            _BY_RANK.page(size, scope),
        )

    @write
    def update(
        self,
        repository_id: Id,
        number: Id,
        *,
        actor_id: Id,
        title: Title | None = None,
        body: Body | None = None,
    ) -> Query[Issue]:
        """Edit the title and/or body (the author, or a writer); newly mentioned users are told."""
        if title is None and body is None:
            raise InvalidInput("nothing to change: give a title or a body", field="title")
        return Query(
            f"""
            WITH guard AS (
                {guard("read")}
            ), target AS (
                UPDATE issues i SET
                    title = coalesce(%(title)s, i.title),
                    body = coalesce(%(body)s, i.body),
                    edited_at = now()
                FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                  AND {author_or_role("i", "edit an issue")}
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
            ), {fan_out(subject="target", candidates="candidates", issue="s.id")}
            SELECT {ISSUE_DETAIL}
            FROM target i {ISSUE_FROM}
            """,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "title": title,
                "body": body,
                "mentions": extract_mentions(body) if body is not None else [],
            },
            one(Issue, _missing(repository_id, number)),
        )

    @write
    def close(
        self,
        repository_id: Id,
        number: Id,
        *,
        actor_id: Id,
        reason: CloseReason = "completed",
        duplicate_of: Id | None = None,
    ) -> Query[Issue]:
        """Close with a reason (the author, or a writer); ``duplicate`` names the original."""
        if (reason == "duplicate") != (duplicate_of is not None):
            raise InvalidInput(
                "duplicate_of goes with reason duplicate, and only with it", field="duplicate_of"
            )
        if duplicate_of is not None and duplicate_of == number:
            raise InvalidInput("an issue cannot duplicate itself", field="duplicate_of")
        return Query(
            f"""
            WITH guard AS (
                {guard("read")}
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
                  AND {author_or_role("i", "close an issue")}
                RETURNING i.*
            )
            SELECT {ISSUE_DETAIL}
            FROM target i {ISSUE_FROM}
            """,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "reason": reason,
                "duplicate_of": duplicate_of,
            },
            one(Issue, _missing(repository_id, number)),
        )

    @write
    def reopen(self, repository_id: Id, number: Id, *, actor_id: Id) -> Query[Issue]:
        """Reopen a closed issue (the author, or a writer)."""
        return Query(
            f"""
            WITH guard AS (
                {guard("read")}
            ), target AS (
                UPDATE issues i SET state = 'open', close_reason = NULL, closed_at = NULL,
                                    duplicate_of_id = NULL
                FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                  AND {author_or_role("i", "reopen an issue")}
                RETURNING i.*
            )
            SELECT {ISSUE_DETAIL}
            FROM target i {ISSUE_FROM}
            """,
            {"repository_id": repository_id, "number": number, "actor_id": actor_id},
            one(Issue, _missing(repository_id, number)),
        )

    @write
    def set_locked(
        self, repository_id: Id, number: Id, *, actor_id: Id, locked: Flag
    ) -> Query[Issue]:
        """Lock (only writers may comment or react) or unlock an issue's conversation (write)."""
        return Query(
            f"""
            WITH guard AS (
                {guard("write")}
            ), target AS (
                UPDATE issues i SET locked = %(locked)s FROM guard
                WHERE i.repository_id = guard.id AND i.number = %(number)s
                RETURNING i.*
            )
            SELECT {detail_columns()}
            FROM target i {ISSUE_FROM}
            """,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "locked": locked,
            },
            one(Issue, _missing(repository_id, number)),
        )

    @read
    def counts(self, repository_id: Id, *, viewer_id: Id | None = None) -> Query[IssueCounts]:
        """Open and closed issue counts, read in O(1) from what the database maintains."""
        return Query(
            f"""
            SELECT coalesce(c.open_issue_count, 0) AS open,
                   coalesce(c.closed_issue_count, 0) AS closed
            FROM (SELECT %(repository_id)s::bigint AS id) r
            LEFT JOIN issue_counters c ON c.repository_id = r.id
            WHERE {readable("r.id")}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id},
            one(IssueCounts, f"repository {repository_id} not found"),
        )

    @read
    def admin_check_counts(
        self, repository_id: Id | None = None
    ) -> Query[builtins.list[CountDrift]]:
        """Administrative: recount issues and return the repositories whose stored counts drifted.

        For operators and consistency jobs only, never for a web request: it takes no viewer and
        reads private repositories (it reveals counts, not content).
        """
        return Query(
            """
            SELECT repository_id, stored_open, stored_closed, actual_open, actual_closed
            FROM check_issue_counts(%s)
            """,
            (repository_id,),
            many(CountDrift),
        )
