"""``db.landing.workers``: what landing workers do: claim a batch, renew it, report its outcome.

Workers are trusted service code: they name themselves (``worker``) rather than act as a user,
and reach every repository. Each claim is one statement (the schema's ``landing_claim``):
``FOR UPDATE SKIP LOCKED`` on the bookmark's queue, a lease and a fresh fencing token from
``lease_fencing_tokens``; a lease that expired is taken over with a larger token. At most one
batch per bookmark runs at a time: the schema refuses a second one. ``renew``, ``finish`` and
``requeue`` present the token; a stale one changes nothing and is ``Conflict``.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Final

from ..claims import LeaseSeconds, Token, Worker, fenced, held
from ..collaboration.fanout import fan_out
from ..errors import InvalidInput
from ..inputs import Bounded, CommitId, Flag, Id, RefName, Text
from ..query import Namespace, Query, R, many, one, optional, scalar, write
from .models import LandingClaim, LandingOutcome, Reason

__all__ = ["BatchSize", "TimeoutSeconds", "Workers"]

BatchSize = Annotated[int, Bounded(1, 1000)]
TimeoutSeconds = Annotated[int, Bounded(1, 7 * 86_400)]
ErrorText = Annotated[str, Text(65536, min_length=1, sample="tests failed")]
_TIMEOUT_SECONDS: Final = 3600

_CLAIMED: Final = """
    batch_id, repository_id, target_bookmark, parent_id, depth::integer AS depth,
    fencing_token, claimed_by, lease_expires_at, deadline_at, taken_over, requests"""

# The requests a run ended, and the notifications of those that landed or failed: to their
# authors, through the one fan-out, from no actor (a worker is no user).
_OUTCOMES: Final = f"""
    , ended AS (
        SELECT l.repository_id, l.id, l.number, l.author_id, d.outcome
        FROM done d JOIN landing_queue l ON l.id = d.landing_id
    ), told AS (
        SELECT * FROM ended WHERE outcome IN ('landed', 'failed') AND author_id IS NOT NULL
    ), candidates AS (
        SELECT author_id AS user_id, 'landing' AS reason, 1 AS priority, id AS landing_id
        FROM told
    ), {
    fan_out(
        subject="told",
        candidates="candidates",
        issue="NULL",
        landing="s.id",
        actor="NULL::bigint",
        match="c.landing_id = s.id",
    )
}
    SELECT id AS landing_id, number, outcome FROM ended ORDER BY number
"""


class Workers(Namespace[R]):
    """Claims of landing batches, by trusted worker code."""

    @write
    def claim(
        self,
        worker: Worker,
        lease_seconds: LeaseSeconds,
        *,
        repository_id: Id | None = None,
        bookmark: RefName | None = None,
        batch_size: BatchSize = 1,
        timeout_seconds: TimeoutSeconds = _TIMEOUT_SECONDS,
    ) -> Query[LandingClaim | None]:
        """The next batch to land, or ``None``: a takeover of an expired lease, or a new batch.

        A new batch is a bisected half waiting, or the head of a bookmark's queue and up to
        ``batch_size - 1`` ready requests after it (a never-batch request runs alone). Only
        ready requests are claimed (approvals, status checks, no conflicts), never from a
        paused queue. ``timeout_seconds`` bounds the run; a run past it is requeued or failed
        with the reason ``timeout`` by the next claim of its bookmark or by :meth:`sweep`.
        """
        if bookmark is not None and repository_id is None:
            raise InvalidInput("bookmark: give the repository_id too", field="bookmark")
        return Query(
            f"""
            SELECT {_CLAIMED}
            FROM landing_claim(%(worker)s, %(lease)s, %(repository_id)s, %(bookmark)s,
                               %(batch_size)s, %(timeout)s)
            """,
            {
                "worker": worker,
                "lease": lease_seconds,
                "repository_id": repository_id,
                "bookmark": bookmark,
                "batch_size": batch_size,
                "timeout": timeout_seconds,
            },
            optional(LandingClaim),
        )

    @write
    def renew(
        self, batch_id: Id, *, token: Token, lease_seconds: LeaseSeconds
    ) -> Query[LandingClaim]:
        """Extend the lease of a running batch held with ``token``; a stale token is ``Conflict``."""
        return Query(
            f"""
            WITH renewed AS (
                UPDATE landing_batches b
                SET lease_expires_at = now() + make_interval(secs => %(lease)s)
                WHERE b.id = %(batch_id)s AND b.state = 'running' AND {held("b")}
                RETURNING b.id, b.lease_expires_at
            ), requests AS (
                    UPDATE landing_queue l SET lease_expires_at = r.lease_expires_at
                FROM renewed r
                WHERE l.batch_id = r.id AND l.state = 'running'
            )
            SELECT c.batch_id, c.repository_id, c.target_bookmark, c.parent_id,
                   c.depth::integer AS depth, c.fencing_token, c.claimed_by,
                   now() + make_interval(secs => %(lease)s) AS lease_expires_at, c.deadline_at,
                   false AS taken_over, c.requests
            FROM renewed r, landing_claimed(r.id, false) c
            """,
            {"batch_id": batch_id, "token": token, "lease": lease_seconds},
            fenced(one(LandingClaim, f"landing batch {batch_id} not found"), "renew"),
        )

    @write
    def finish(
        self,
        batch_id: Id,
        *,
        token: Token,
        landed_commit_id: CommitId | None = None,
        error: ErrorText | None = None,
        retry: Flag = False,
    ) -> Query[builtins.list[LandingOutcome]]:
        """End the run of a batch: landed on ``landed_commit_id``, or failed with ``error``.

        A failed batch of several requests is bisected: its halves wait as child batches in
        their places, so one bad change among n is found in about log2(n) more runs. A request
        alone, failed with ``retry``, waits again in its place while attempts remain
        (``max_attempts``); otherwise it fails. Authors of landed and failed requests are told.
        A stale token is ``Conflict`` and changes nothing.
        """
        if (landed_commit_id is None) == (error is None):
            raise InvalidInput(
                "landed_commit_id: give either the landed commit or an error",
                field="landed_commit_id",
            )
        return Query(
            f"""
            WITH done AS (
                SELECT * FROM landing_finish(%(batch_id)s, %(token)s, %(landed)s, %(error)s,
                                             %(retry)s)
            ) {_OUTCOMES}
            """,
            {
                "batch_id": batch_id,
                "token": token,
                "landed": landed_commit_id,
                "error": error,
                "retry": retry,
            },
            fenced(many(LandingOutcome), "finish"),
        )

    @write
    def requeue(
        self, batch_id: Id, *, token: Token, reason: Reason = ""
    ) -> Query[builtins.list[LandingOutcome]]:
        """Give a running batch back untried: its requests wait again in their places.

        The attempt does not count. A stale token is ``Conflict`` and changes nothing.
        """
        return Query(
            f"""
            WITH done AS (
                SELECT * FROM landing_requeue(%(batch_id)s, %(token)s,
                                              coalesce(nullif(%(reason)s, ''), 'requeued'))
            ) {_OUTCOMES}
            """,
            {"batch_id": batch_id, "token": token, "reason": reason},
            fenced(many(LandingOutcome), "requeue"),
        )

    @write
    def sweep(self) -> Query[int]:
        """Time out every run past its deadline (requeued or failed, reason ``timeout``)."""
        return Query("SELECT landing_sweep()", (), scalar(int))
