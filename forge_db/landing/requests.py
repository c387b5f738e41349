"""``db.landing.requests``: landing requests: submit, read, list, cancel, rewrite, reprioritise.

Submitting needs the write role (the admin role where a protection rule of the bookmark says
so); the request's author or a writer may cancel or rewrite it. Reads take ``viewer_id`` and
never reveal a private repository.
"""

from __future__ import annotations

import builtins
from typing import Final, Literal

from ..access import author_or_role, guard, has_role, readable
from ..errors import register_constraint_messages
from ..inputs import Body, CommitId, Cursor, Flag, Id, Limit, RefName, Title
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, many, one, read, write
from .models import ChangeId, LandingEvent, LandingRequest, MaxAttempts, Priority, Reason
from .sql import REQUEST_COLUMNS, REQUEST_FROM, request_columns

__all__ = ["Requests"]

register_constraint_messages(
    {
        "landing_queue_title_check": "title: 1-256 characters, not blank",
        "landing_queue_draining": "the landing queue of this bookmark is draining",
        "landing_queue_state_transition": "the request cannot change state that way",
    }
)

ListState = Literal["active", "queued", "running", "landed", "failed", "cancelled", "all"]
_ORDER: Final = Keyset(LandingRequest, "id")
_STATES: Final = {
    "active": ["queued", "running"],
    "all": ["queued", "running", "landed", "failed", "cancelled"],
}


def _missing(repository_id: int, number: int) -> str:
    return f"landing request #{number} not found in repository {repository_id}"


_HISTORY: Final = f"""
    SELECT e.id, e.repository_id, e.target_bookmark, l.number, e.kind, e.actor_id,
           u.username AS actor, e.worker, e.reason, e.batch_id, b.parent_id AS parent_batch_id,
           b.depth::integer AS batch_depth, e.created_at
    FROM landing_queue l
    JOIN landing_events e ON e.repository_id = l.repository_id AND e.landing_id = l.id
    LEFT JOIN landing_batches b ON b.repository_id = e.repository_id AND b.id = e.batch_id
    LEFT JOIN users u ON u.id = e.actor_id
    WHERE l.repository_id = %(repository_id)s AND l.number = %(number)s AND {readable()}
    ORDER BY e.id
"""


class Requests(Namespace[R]):
    """Landing requests: jj changes asking to land on a bookmark."""

    @write
    def submit(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        change_id: ChangeId,
        commit_id: CommitId,
        bookmark: RefName,
        title: Title,
        description: Body = "",
        priority: Priority = 0,
        never_batch: Flag = False,
        max_attempts: MaxAttempts = 3,
    ) -> Query[LandingRequest]:
        """Ask for a change to land on ``bookmark`` (write); the active request if one exists.

        Idempotent per (repository, change, bookmark) while the request is queued or running:
        concurrent submits of one change give one request and one number (the repository's
        sequence, shared with issues and pull requests). A draining queue refuses with
        ``Conflict``.
        """
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            checked AS (
                SELECT guard.id,
                       CASE WHEN EXISTS (SELECT 1 FROM protected_branches p
                                          WHERE p.repository_id = guard.id
                                            AND branch_pattern_matches(p.pattern, %(bookmark)s)
                                            AND p.land_min_role = 'admin')
                                 AND NOT {has_role("admin", "guard.id", "%(actor_id)s")}
                            THEN raise_error('FDP01', 'landing on this bookmark needs the admin role')
                       END AS refused
                FROM guard
            ),
            submitted AS (
                SELECT (landing_submit(id, %(actor_id)s, %(change_id)s, %(commit_id)s,
                                       %(bookmark)s, %(title)s, %(description)s,
                                       %(priority)s::smallint, %(never_batch)s,
                                       %(max_attempts)s)).*
                FROM checked
            )
            SELECT {REQUEST_COLUMNS}
            FROM submitted l {REQUEST_FROM}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "change_id": change_id,
                "commit_id": commit_id,
                "bookmark": bookmark,
                "title": title,
                "description": description,
                "priority": priority,
                "never_batch": never_batch,
                "max_attempts": max_attempts,
            },
            one(LandingRequest, "landing request not submitted"),
        )

    @read
    def get(
        self, repository_id: Id, number: Id, *, viewer_id: Id | None = None
    ) -> Query[LandingRequest]:
        """Landing request ``#number``, if visible."""
        return Query(
            f"""
            SELECT {REQUEST_COLUMNS}
            FROM landing_queue l {REQUEST_FROM}
            WHERE l.repository_id = %(repository_id)s AND l.number = %(number)s
              AND {readable()}
            """,
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            one(LandingRequest, _missing(repository_id, number)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        state: ListState = "active",
        bookmark: RefName | None = None,
        author_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[LandingRequest]]:
        """A keyset page of landing requests, newest first, with filters (all combine)."""
        size = page_size(limit)
        scope = ("landing", repository_id, state, bookmark, author_id)
        (after_id,) = _ORDER.after(cursor, scope)
        return Query(
            f"""
            SELECT {REQUEST_COLUMNS}
            FROM landing_queue l {REQUEST_FROM}
            WHERE l.repository_id = %(repository_id)s
              AND l.state = ANY(%(states)s::text[])
              AND (%(bookmark)s::text IS NULL OR l.target_bookmark = %(bookmark)s)
              AND (%(author_id)s::bigint IS NULL OR l.author_id = %(author_id)s)
              AND (%(after_id)s::bigint IS NULL OR l.id < %(after_id)s)
              AND {readable()}
            ORDER BY l.id DESC
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "states": _STATES.get(state, [state]),
                "bookmark": bookmark,
                "author_id": author_id,
                "after_id": after_id,
                "limit": size + 1,
            },
            _ORDER.page(size, scope),
        )

    @write
    def cancel(
        self, repository_id: Id, number: Id, *, actor_id: Id, reason: Reason = ""
    ) -> Query[LandingRequest]:
        """Take a waiting request out of the queue (its author, or a writer), saying why.

        A running request belongs to its worker until its run ends: ``Conflict``.
        """
        return Query(
            f"""
            WITH guard AS ({guard("read")}),
            target AS (
                UPDATE landing_queue l SET
                    state = CASE WHEN l.state <> 'queued'
                                 THEN raise_error('FDC01', CASE WHEN l.state = 'running'
                                     THEN 'the request is landing: a worker holds it'
                                     ELSE 'the request has left the queue' END)::text
                                 ELSE 'cancelled' END,
                    batch_id = NULL, finished_at = now(),
                    state_reason = coalesce(nullif(%(reason)s, ''), 'cancelled'),
                    state_actor_id = %(actor_id)s
                FROM guard
                WHERE l.repository_id = guard.id AND l.number = %(number)s
                  AND {author_or_role("l", "cancel a landing request")}
                RETURNING l.*
            )
            SELECT {REQUEST_COLUMNS}
            FROM target l {REQUEST_FROM}
            """,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "reason": reason,
            },
            one(LandingRequest, _missing(repository_id, number)),
        )

    @write
    def update_commit(
        self, repository_id: Id, number: Id, *, actor_id: Id, commit_id: CommitId
    ) -> Query[LandingRequest]:
        """The change was rewritten: the request now lands ``commit_id`` (author, or a writer).

        Approvals of older commits become stale (they no longer count); where a protection
        rule of the bookmark dismisses stale approvals, they are dismissed. Only a waiting
        request can be rewritten: a running one is ``Conflict``.
        """
        return Query(
            f"""
            WITH guard AS ({guard("read")}),
            target AS (
                UPDATE landing_queue l SET
                    commit_id = CASE WHEN l.state <> 'queued'
                                     THEN raise_error('FDC01', 'only a waiting request can be rewritten')::text
                                     ELSE %(commit_id)s END,
                    state_actor_id = %(actor_id)s
                FROM guard
                WHERE l.repository_id = guard.id AND l.number = %(number)s
                  AND {author_or_role("l", "rewrite a landing request")}
                RETURNING l.*
            ),
            dismissed AS (
                UPDATE landing_reviews r SET state = 'dismissed'
                FROM target t
                WHERE r.repository_id = t.repository_id AND r.landing_id = t.id
                  AND r.state = 'approved' AND r.commit_id IS DISTINCT FROM t.commit_id
                  AND EXISTS (SELECT 1 FROM protected_branches p
                              WHERE p.repository_id = t.repository_id
                                AND branch_pattern_matches(p.pattern, t.target_bookmark)
                                AND p.dismiss_stale_approvals)
            )
            SELECT {REQUEST_COLUMNS}
            FROM target l {REQUEST_FROM}
            """,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "commit_id": commit_id,
            },
            one(LandingRequest, _missing(repository_id, number)),
        )

    @write
    def set_priority(
        self, repository_id: Id, number: Id, *, actor_id: Id, priority: Priority
    ) -> Query[LandingRequest]:
        """Change an active request's priority (write): higher lands first."""
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            target AS (
                UPDATE landing_queue l SET
                    priority = CASE WHEN l.state NOT IN ('queued', 'running')
                                    THEN raise_error('FDC01', 'the request has left the queue')::smallint
                                    ELSE %(priority)s::smallint END,
                    state_actor_id = %(actor_id)s
                FROM guard
                WHERE l.repository_id = guard.id AND l.number = %(number)s
                RETURNING l.*
            )
            SELECT {request_columns()}
            FROM target l {REQUEST_FROM}
            """,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "priority": priority,
            },
            one(LandingRequest, _missing(repository_id, number)),
        )

    @read
    def history(
        self, repository_id: Id, number: Id, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[LandingEvent]]:
        """Every transition of request ``#number``, oldest first, with batch lineage."""
        return Query(
            _HISTORY,
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            many(LandingEvent),
        )
