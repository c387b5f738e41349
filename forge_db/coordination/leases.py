"""``db.coordination.leases``: TTL leases on named resources, fencing tokens, deadlocks.

Acquire, renew and release run the schema's ``lease_acquire``, ``lease_renew`` and
``lease_release``, which every domain holding a lease shares: each acquisition gets a token from
``lease_fencing_tokens``, larger than any before; a renewal by the holder keeps it; an expired
lease is taken by the next caller. A holder that writes elsewhere on the lease's behalf presents
its token there, so one that outlived its lease cannot clobber its successor (Kleppmann's
fencing argument).

A caller that cannot get a lease may say so with :meth:`Leases.wait_for`, recording the edge
"waiter waits for this lease" of the wait-for graph; the holder is read from the lease itself,
so a takeover moves the edge. :meth:`Leases.find_deadlocks` finds every cycle of that graph with
a recursive query and names a victim: the youngest waiter of the cycle.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Annotated, Final

from ..claims import LeaseSeconds, Token
from ..inputs import Text
from ..query import (
    Namespace,
    Query,
    R,
    affected,
    many,
    one,
    optional,
    read,
    rowcount,
    scalar,
    write,
)
from .models import Deadlock, Lease, LeaseGrant, Wait
from .rules import Label

__all__ = ["Leases"]

LeaseName = Annotated[str, Text(255, min_length=1, controls=False, sample="repo:1:main")]
"""The name of a leased resource (``repo:7:bookmark:main``, ``job:nightly-gc``)."""
Prefix = Annotated[str, Text(255, controls=False, sample="")]

_LEASE_COLUMNS: Final = "name, holder, fencing_token, acquired_at, expires_at"
_MAX_CYCLE: Final = 64  # members; a longer cycle is not looked for


class Leases(Namespace[R]):
    """Acquire, renew, release; who holds what; wait-for edges and deadlock detection."""

    @write
    def acquire(self, name: LeaseName, holder: Label, *, ttl: LeaseSeconds) -> Query[LeaseGrant]:
        """Take the lease for ``ttl`` seconds if it is free or expired (a new, larger token);
        renew it if ``holder`` has it (same token); else ``acquired=False`` and who holds it."""
        return Query(
            """
            SELECT %(name)s::text AS name, acquired, holder, fencing_token, expires_at
            FROM lease_acquire(%(name)s, %(holder)s, make_interval(secs => %(ttl)s))
            """,
            {"name": name, "holder": holder, "ttl": ttl},
            one(LeaseGrant, f"lease {name!r} not acquired"),
        )

    @write
    def renew(
        self, name: LeaseName, holder: Label, *, token: Token, ttl: LeaseSeconds
    ) -> Query[datetime]:
        """Extend a live lease held with ``token`` by ``ttl`` seconds from now; the new expiry.

        ``Conflict`` when it expired, was released or taken over: the token is stale.
        """
        return Query(
            "SELECT lease_renew(%(name)s, %(holder)s, %(token)s, make_interval(secs => %(ttl)s))",
            {"name": name, "holder": holder, "token": token, "ttl": ttl},
            scalar(datetime),
        )

    @write
    def release(self, name: LeaseName, holder: Label, *, token: Token) -> Query[bool]:
        """Give the lease back; ``False`` when ``holder`` no longer holds it with ``token``."""
        return Query(
            "SELECT lease_release(%(name)s, %(holder)s, %(token)s)",
            {"name": name, "holder": holder, "token": token},
            scalar(bool),
        )

    @read
    def find(self, name: LeaseName) -> Query[Lease | None]:
        """The live lease ``name``, or ``None`` when it is free (never taken, released, expired)."""
        return Query(
            f"SELECT {_LEASE_COLUMNS} FROM leases WHERE name = %(name)s AND expires_at > now()",
            {"name": name},
            optional(Lease),
        )

    @read
    def holders(self, prefix: Prefix = "") -> Query[builtins.list[Lease]]:
        """Every live lease whose name starts with ``prefix``, by name (at most 1000)."""
        return Query(
            f"""
            SELECT {_LEASE_COLUMNS} FROM leases
            WHERE expires_at > now() AND starts_with(name, %(prefix)s)
            ORDER BY name LIMIT 1000
            """,
            {"prefix": prefix},
            many(Lease),
        )

    @write
    def wait_for(self, name: LeaseName, waiter: Label, *, ttl: LeaseSeconds) -> Query[Wait | None]:
        """Record that ``waiter`` waits for lease ``name`` (for ``ttl`` seconds at most).

        ``None`` when there is nothing to wait for (the lease is free, or ``waiter`` holds it):
        acquire it instead. Waiting again pushes the edge's expiry and keeps its age.
        """
        return Query(
            """
            WITH lease AS (
                SELECT name, holder FROM leases
                WHERE name = %(name)s AND expires_at > now() AND holder <> %(waiter)s
            ), edge AS (
                INSERT INTO lease_waits (waiter, lease_name, expires_at)
                SELECT %(waiter)s, name, now() + make_interval(secs => %(ttl)s) FROM lease
                ON CONFLICT (waiter, lease_name) DO UPDATE SET expires_at = EXCLUDED.expires_at
                RETURNING waiter, lease_name, created_at, expires_at
            )
            SELECT e.waiter, e.lease_name, l.holder, e.created_at, e.expires_at
            FROM edge e JOIN lease l ON l.name = e.lease_name
            """,
            {"name": name, "waiter": waiter, "ttl": ttl},
            optional(Wait),
        )

    @write
    def stop_waiting(self, name: LeaseName, waiter: Label) -> Query[bool]:
        """Remove the edge "``waiter`` waits for ``name``"; ``False`` if there was none."""
        return Query(
            "DELETE FROM lease_waits WHERE lease_name = %(name)s AND waiter = %(waiter)s",
            {"name": name, "waiter": waiter},
            affected,
        )

    @read
    def waits(self) -> Query[builtins.list[Wait]]:
        """The live wait-for edges (neither the wait nor the lease expired), oldest first."""
        return Query(
            """
            SELECT w.waiter, w.lease_name, l.holder, w.created_at, w.expires_at
            FROM lease_waits w JOIN leases l ON l.name = w.lease_name
            WHERE w.expires_at > now() AND l.expires_at > now() AND l.holder <> w.waiter
            ORDER BY w.created_at, w.waiter, w.lease_name LIMIT 1000
            """,
            {},
            many(Wait),
        )

    @read
    def find_deadlocks(self) -> Query[builtins.list[Deadlock]]:
        """Every cycle of the wait-for graph, each once, with its members and a victim.

        ``members[i]`` waits for ``resources[i]``, held by ``members[i + 1]`` (the last one's
        by the first). The victim is the youngest waiter of the cycle (its edge is the most
        recent; ties go to the greatest name): it has waited least, so aborting it costs least.
        """
        return Query(
            f"""
            WITH RECURSIVE edges AS (
                SELECT w.waiter, l.holder, w.lease_name, w.created_at
                FROM lease_waits w JOIN leases l ON l.name = w.lease_name
                WHERE w.expires_at > now() AND l.expires_at > now() AND l.holder <> w.waiter
            ), walk (start, node, path, resources, stamps, closed) AS (
                SELECT waiter, holder, ARRAY[waiter, holder], ARRAY[lease_name],
                       ARRAY[created_at], false
                FROM edges
                UNION ALL
                SELECT w.start, e.holder, w.path || e.holder, w.resources || e.lease_name,
                       w.stamps || e.created_at, e.holder = w.start
                FROM walk w JOIN edges e ON e.waiter = w.node
                WHERE NOT w.closed AND cardinality(w.path) <= {_MAX_CYCLE}
                  AND (e.holder = w.start OR e.holder <> ALL (w.path))
            ), cycles AS (
                SELECT w.path[1:cardinality(w.path) - 1] AS members, w.resources, w.stamps
                FROM walk w
                WHERE w.closed
                  AND w.start = (SELECT min(m COLLATE "C") FROM unnest(w.path) AS m)
            )
            SELECT c.members, c.resources,
                   (SELECT u.m FROM unnest(c.members, c.stamps) AS u(m, s)
                    ORDER BY u.s DESC, u.m COLLATE "C" DESC LIMIT 1) AS victim
            FROM cycles c
            ORDER BY c.members COLLATE "C", c.resources COLLATE "C"
            """,
            {},
            many(Deadlock),
        )

    @write
    def purge_waits(self) -> Query[int]:
        """Delete wait-for edges whose wait or lease expired; returns how many."""
        return Query(
            """
            DELETE FROM lease_waits w USING leases l
            WHERE l.name = w.lease_name
              AND (w.expires_at <= now() OR l.expires_at <= now() OR l.holder = w.waiter)
            """,
            {},
            rowcount,
        )
