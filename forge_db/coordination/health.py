"""``db.coordination.health``: component heartbeats, and health derived from their age.

Each running instance of a component (a landing worker, a runner, an event consumer) upserts
its heartbeat with what it reports of itself (``ok``, ``degraded``, ``down``). :meth:`Health.status`
derives, in SQL, ``healthy``, ``degraded`` (reported so, or its heartbeat is older than
``stale_after``), ``dead`` (reported down, or silent longer than ``dead_after``) or ``unknown``
(a component asked about that never reported).
"""

from __future__ import annotations

import builtins
from typing import Annotated, Final, Literal

from psycopg.types.json import Jsonb

from ..errors import InvalidInput
from ..inputs import Bounded, Text
from ..query import Namespace, Query, R, many, one, read, write
from .models import ComponentStatus
from .rules import Component, JsonObject, Label

__all__ = ["Health"]

Reported = Literal["ok", "degraded", "down"]
Version = Annotated[str, Text(100, min_length=1, controls=False, sample="1.0.0")]
Age = Annotated[int, Bounded(1, 7 * 86_400)]


def _derived(h: str) -> str:
    """The status columns of ``component_health`` alias ``h`` (NULL columns: never reported)."""
    age = f"extract(epoch FROM clock_timestamp() - {h}.last_heartbeat_at)::float8"
    return f"""
        {h}.instance, {h}.status AS reported, coalesce({h}.details, '{{}}') AS details,
        {h}.version, {h}.last_heartbeat_at, {age} AS age_seconds,
        CASE WHEN {h}.last_heartbeat_at IS NULL THEN 'unknown'
             WHEN {h}.status = 'down' OR {age} > %(dead_after)s THEN 'dead'
             WHEN {h}.status = 'degraded' OR {age} > %(stale_after)s THEN 'degraded'
             ELSE 'healthy' END AS health
    """


_DEFAULTS: Final = {"stale_after": 60, "dead_after": 300}


class Health(Namespace[R]):
    """``heartbeat`` from each instance; ``status`` derived from the reports and their age."""

    @write
    def heartbeat(
        self,
        component: Component,
        instance: Label,
        *,
        status: Reported = "ok",
        details: JsonObject | None = None,
        version: Version | None = None,
    ) -> Query[ComponentStatus]:
        """Record that ``instance`` of ``component`` is alive and how it reports itself."""
        return Query(
            f"""
            WITH beat AS (
                INSERT INTO component_health (component, instance, status, details, version,
                                              last_heartbeat_at)
                VALUES (%(component)s, %(instance)s, %(status)s, %(details)s, %(version)s,
                        clock_timestamp())
                ON CONFLICT (component, instance) DO UPDATE SET
                    status = EXCLUDED.status, details = EXCLUDED.details,
                    version = EXCLUDED.version, last_heartbeat_at = EXCLUDED.last_heartbeat_at
                RETURNING *
            )
            SELECT h.component, {_derived("h")} FROM beat h
            """,
            {
                "component": component,
                "instance": instance,
                "status": status,
                "details": Jsonb(details or {}),
                "version": version,
                **_DEFAULTS,
            },
            one(ComponentStatus, "heartbeat not recorded"),
        )

    @read
    def status(
        self,
        component: Component | None = None,
        *,
        stale_after: Age = 60,
        dead_after: Age = 300,
    ) -> Query[builtins.list[ComponentStatus]]:
        """Every instance's health (of ``component`` when given; ``unknown`` if it has none),
        by component and instance."""
        if dead_after < stale_after:
            raise InvalidInput("dead_after: must not be less than stale_after", field="dead_after")
        return Query(
            f"""
            SELECT c.component, {_derived("h")}
            FROM (SELECT DISTINCT component FROM component_health
                  WHERE %(component)s::text IS NULL
                  UNION SELECT %(component)s WHERE %(component)s::text IS NOT NULL) c
            LEFT JOIN component_health h ON h.component = c.component
            ORDER BY c.component, h.instance
            LIMIT 10000
            """,
            {"component": component, "stale_after": stale_after, "dead_after": dead_after},
            many(ComponentStatus),
        )
