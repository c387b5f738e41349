"""``db.landing.queues``: the queue of each bookmark: its order, and pausing and draining it.

A queue is ``open``, ``paused`` (no claims; entries wait) or ``draining`` (no new entries; the
ones present finish). Pausing, draining and resuming need the write role and record a reason
and the actor in the queue and in the event log.
"""

from __future__ import annotations

from typing import Final, Literal

from ..access import guard, readable
from ..inputs import Cursor, Id, Limit, RefName
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, one, read, write
from .models import LandingQueue, QueueEntry, Reason
from .sql import REQUEST_COLUMNS, REQUEST_FROM

__all__ = ["Queues"]

_ORDER: Final = Keyset(QueueEntry, "priority", "id")

# The queue of a bookmark as callers see it; a bookmark nobody submitted to has an open queue.
_QUEUE: Final = """
    SELECT k.repository_id, k.bookmark, coalesce(q.state, 'open') AS state,
           coalesce(q.reason, '') AS reason, u.username AS changed_by,
           (SELECT count(*) FROM landing_queue l
             WHERE l.repository_id = k.repository_id AND l.target_bookmark = k.bookmark
               AND l.state = 'queued') AS queued,
           (SELECT b.id FROM landing_batches b
             WHERE b.repository_id = k.repository_id AND b.target_bookmark = k.bookmark
               AND b.state = 'running') AS running_batch_id,
           q.updated_at
    FROM {source} k
    LEFT JOIN landing_queues q ON q.repository_id = k.repository_id AND q.bookmark = k.bookmark
    LEFT JOIN users u ON u.id = q.changed_by_id
"""

# "Behind the cursor" in the queue's order: priority descending, then submission order.
_AFTER: Final = (
    "(%(after_priority)s::integer IS NULL OR l.priority < %(after_priority)s"
    " OR (l.priority = %(after_priority)s AND l.id > %(after_id)s))"
)


def _set_state(state: Literal["open", "paused", "draining"]) -> str:
    return f"""
        WITH guard AS ({guard("write")}),
        changed AS (
            INSERT INTO landing_queues AS q (repository_id, bookmark, state, reason, changed_by_id)
            SELECT id, %(bookmark)s, '{state}', %(reason)s, %(actor_id)s FROM guard
            ON CONFLICT (repository_id, bookmark) DO UPDATE SET
                state = EXCLUDED.state, reason = EXCLUDED.reason,
                changed_by_id = EXCLUDED.changed_by_id
            RETURNING q.repository_id, q.bookmark, q.state, q.reason, q.changed_by_id, q.updated_at
        )
        SELECT c.repository_id, c.bookmark, c.state, c.reason, u.username AS changed_by,
               (SELECT count(*) FROM landing_queue l
                 WHERE l.repository_id = c.repository_id AND l.target_bookmark = c.bookmark
                   AND l.state = 'queued') AS queued,
               (SELECT b.id FROM landing_batches b
                 WHERE b.repository_id = c.repository_id AND b.target_bookmark = c.bookmark
                   AND b.state = 'running') AS running_batch_id,
               c.updated_at
        FROM changed c LEFT JOIN users u ON u.id = c.changed_by_id
    """


class Queues(Namespace[R]):
    """The landing queue of each bookmark."""

    @read
    def get(
        self, repository_id: Id, bookmark: RefName, *, viewer_id: Id | None = None
    ) -> Query[LandingQueue]:
        """The queue of ``bookmark``: its state and reason, how many wait, the running batch."""
        source = (
            "(SELECT %(repository_id)s::bigint AS repository_id, %(bookmark)s::text AS bookmark)"
        )
        return Query(
            _QUEUE.format(source=source) + f" WHERE {readable('k.repository_id')}",
            {"repository_id": repository_id, "bookmark": bookmark, "viewer_id": viewer_id},
            one(LandingQueue, f"repository {repository_id} not found"),
        )

    @read
    def entries(
        self,
        repository_id: Id,
        bookmark: RefName,
        *,
        viewer_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[QueueEntry]]:
        """The waiting requests of ``bookmark`` in landing order, with positions (1 is next).

        The order is priority first, then submission order: a request requeued for a retry
        keeps its place. Each entry says whether it is ready to land.
        """
        size = page_size(limit)
        scope = ("landing.queue", repository_id, bookmark)
        after_priority, after_id = _ORDER.after(cursor, scope)
        return Query(
            f"""
            WITH page AS (
                SELECT l.* FROM landing_queue l
                WHERE l.repository_id = %(repository_id)s AND l.target_bookmark = %(bookmark)s
                  AND l.state = 'queued' AND {_AFTER}
                  AND {readable()}
                ORDER BY l.priority DESC, l.id
                LIMIT %(limit)s
            ), ahead AS (
                SELECT count(*) AS n FROM landing_queue l
                WHERE l.repository_id = %(repository_id)s AND l.target_bookmark = %(bookmark)s
                  AND l.state = 'queued' AND NOT {_AFTER}
            )
            SELECT {REQUEST_COLUMNS},
                   ((SELECT n FROM ahead)
                    + row_number() OVER (ORDER BY l.priority DESC, l.id))::integer AS position,
                   (SELECT r.ready FROM landing_readiness(l.repository_id, l.id) r) AS ready
            FROM page l {REQUEST_FROM}
            ORDER BY l.priority DESC, l.id
            """,
            {
                "repository_id": repository_id,
                "bookmark": bookmark,
                "viewer_id": viewer_id,
                "after_priority": after_priority,
                "after_id": after_id,
                "limit": size + 1,
            },
            _ORDER.page(size, scope),
        )

    @write
    def pause(
        self, repository_id: Id, bookmark: RefName, *, actor_id: Id, reason: Reason = ""
    ) -> Query[LandingQueue]:
        """Pause the queue of ``bookmark`` (write): no claims until resumed; entries wait."""
        return _change("paused", repository_id, bookmark, actor_id, reason)

    @write
    def drain(
        self, repository_id: Id, bookmark: RefName, *, actor_id: Id, reason: Reason = ""
    ) -> Query[LandingQueue]:
        """Drain the queue of ``bookmark`` (write): no new requests; those present finish."""
        return _change("draining", repository_id, bookmark, actor_id, reason)

    @write
    def resume(
        self, repository_id: Id, bookmark: RefName, *, actor_id: Id, reason: Reason = ""
    ) -> Query[LandingQueue]:
        """Open the queue of ``bookmark`` again (write), after a pause or a drain."""
        return _change("open", repository_id, bookmark, actor_id, reason)


_SET_STATE: Final = {state: _set_state(state) for state in ("open", "paused", "draining")}


def _change(
    state: Literal["open", "paused", "draining"],
    repository_id: int,
    bookmark: str,
    actor_id: int,
    reason: str,
) -> Query[LandingQueue]:
    return Query(
        _SET_STATE[state],
        {
            "repository_id": repository_id,
            "bookmark": bookmark,
            "actor_id": actor_id,
            "reason": reason,
        },
        one(LandingQueue, f"repository {repository_id} not found"),
    )
