"""``db.coordination.limits``: rate limiting, one statement per hit.

A token bucket per key (Stripe's limiter, GCRA's continuous refill): ``limit`` tokens at most,
refilled at ``limit`` per ``period``; a hit takes ``cost`` tokens if they are there. The schema's
``rate_limit_hit`` takes the bucket's row lock, so concurrent hits on one key are counted one at
a time and never let more through than there are tokens. The answer carries what GitHub's
``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` headers (and ``Retry-After``) need.
"""

from __future__ import annotations

from typing import Annotated

from ..errors import InvalidInput
from ..inputs import Bounded, Text
from ..query import Namespace, Query, R, one, write
from .models import RateLimit

__all__ = ["Limits"]

Key = Annotated[str, Text(255, min_length=1, controls=False, sample="user:1:issues.create")]
"""What is limited: caller and action, e.g. ``user:42:issues.create``, ``ip:203.0.113.7:siwe``."""
Count = Annotated[int, Bounded(1, 1_000_000_000)]
Cost = Annotated[int, Bounded(0, 1_000_000_000)]
PeriodSeconds = Annotated[int, Bounded(1, 366 * 86_400)]


class Limits(Namespace[R]):
    """``hit``: take tokens from a key's bucket, and say what is left and when it refills."""

    @write
    def hit(
        self, key: Key, limit: Count, period: PeriodSeconds, cost: Cost = 1
    ) -> Query[RateLimit]:
        """Take ``cost`` tokens from ``key``'s bucket of ``limit`` per ``period`` seconds.

        ``allowed`` says whether they were there (a refused hit takes nothing); ``remaining``
        is what is left; ``reset_at`` when the bucket is full again; ``retry_after`` the
        seconds until this hit would be allowed. ``cost=0`` only reads.
        """
        if cost > limit:
            raise InvalidInput("cost: must not exceed the limit", field="cost")
        return Query(
            """
            SELECT allowed, %(limit)s::int AS "limit", remaining, reset_at, retry_after
            FROM rate_limit_hit(%(key)s, %(limit)s, make_interval(secs => %(period)s), %(cost)s)
            """,
            {"key": key, "limit": limit, "period": period, "cost": cost},
            one(RateLimit, "no rate limit answer"),
        )
