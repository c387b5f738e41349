"""The one claim pattern: what workers take (landing batches, workflow steps, deliveries, leases).

Every claimable table carries ``claimed_by``, ``lease_expires_at`` and ``fencing_token`` (or the
equivalent columns its domain names), and every domain claims the same way:

1. One statement picks the next claimable rows with ``FOR UPDATE SKIP LOCKED`` (so concurrent
   workers never wait on, nor take, the same row) among the waiting ones *and* the running ones
   whose lease has expired: an expired lease is taken over, never lost.
2. It marks them taken with :func:`take`: the worker, a lease of ``%(lease)s``, and a fresh token
   from the ``lease_fencing_tokens`` sequence, larger than any token handed out before.
3. Every later write of the claimant (renew, finish, fail, requeue) names its token; the
   statement matches it with :func:`held`, and :func:`fenced` turns "no row matched" into
   ``Conflict``: a worker whose lease was taken over cannot overwrite its successor's work.

The SQL of each domain stays in its own module; these helpers are the parts that must read the
same everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, TypeVar

from pydantic import BaseModel, ConfigDict

from .errors import Conflict
from .inputs import Bounded, Text
from .query import Result, Shape

__all__ = [
    "LEASE_SECONDS",
    "Claimed",
    "LeaseSeconds",
    "Token",
    "Worker",
    "expired",
    "fenced",
    "held",
    "take",
]

T = TypeVar("T")

LEASE_SECONDS: Final = 60
Worker = Annotated[str, Text(255, min_length=1, controls=False, sample="worker-1")]
"""Who claims: a worker's stable name (host and process), shown in history and diagnostics."""
LeaseSeconds = Annotated[int, Bounded(1, 86_400)]
"""How long a claim lasts before another worker may take it over: 1 s to a day."""
Token = Annotated[int, Bounded(1, 2**63 - 1)]
"""A fencing token handed out by a claim."""


class Claimed(BaseModel):
    """What a claim hands its worker: the token to present on every later write."""

    model_config = ConfigDict(frozen=True)

    fencing_token: int
    claimed_by: str
    lease_expires_at: datetime


def take(
    *,
    worker: str = "%(worker)s",
    lease: str = "%(lease)s",
    by: str = "claimed_by",
    expires: str = "lease_expires_at",
    token: str = "fencing_token",  # noqa: S107 - a column name, not a secret
) -> str:
    """The SET list of a claim: the worker, the lease's end, a new fencing token.

    ``lease`` is an SQL expression for a number of seconds (a parameter, by default).
    """
    return (
        f"{by} = {worker}, {expires} = now() + make_interval(secs => {lease}), "
        f"{token} = nextval('lease_fencing_tokens')"
    )


def expired(alias: str, *, expires: str = "lease_expires_at") -> str:
    """A condition: the lease on row ``alias`` has run out (the row may be taken over)."""
    return f"{alias}.{expires} <= now()"


def held(
    alias: str,
    *,
    token: str = "fencing_token",  # noqa: S107 - a column name, not a secret
    value: str = "%(token)s",
) -> str:
    """A condition: row ``alias`` is still held with the token the caller presents."""
    return f"{alias}.{token} = {value}"


def fenced(shape: Shape[T], what: str) -> Shape[T]:
    """``shape``, but a statement that matched no row (a stale token) is ``Conflict``."""

    def convert(result: Result) -> T:
        if result.rowcount == 0 and not result.rows:
            raise Conflict(
                f"{what}: the claim is no longer held (its lease expired and another worker "
                "took it over, or it finished); the fencing token is stale"
            )
        return shape.convert(result)

    return Shape(convert, shape.columns, paging=shape.paging)
