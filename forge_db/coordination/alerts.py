"""``db.coordination.alerts``: operational alerts, deduplicated while open.

``fire`` with a dedupe key that has an open alert (firing or acknowledged) counts one more
occurrence on it, in the same statement (``ON CONFLICT`` on the open-key unique index); after
``resolve`` the key is free and a recurrence opens a new alert. firing -> acknowledged ->
resolved is the table's state machine.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Final, Literal

from ..inputs import Body, Flag, Id, Text, Title
from ..query import Namespace, Query, R, many, one, read, write
from .models import Alert
from .rules import Component

__all__ = ["Alerts"]

Severity = Literal["info", "warning", "critical"]
DedupeKey = Annotated[str, Text(255, min_length=1, controls=False, sample="disk-full:db1")]

_COLUMNS: Final = (
    "id, component, severity, state, dedupe_key, title, details, occurrences, "
    "acknowledged_by_id, acknowledged_at, resolved_at, last_seen_at, created_at"
)
_SEVERITY_RANK: Final = "array_position(ARRAY['critical', 'warning', 'info'], severity)"


def _missing(alert_id: int) -> str:
    return f"alert {alert_id} not found"


class Alerts(Namespace[R]):
    """Fire (deduplicated), acknowledge, resolve, and list what is firing by severity."""

    @write
    def fire(
        self,
        component: Component,
        severity: Severity,
        dedupe_key: DedupeKey,
        title: Title,
        details: Body = "",
    ) -> Query[Alert]:
        """Open an alert, or count one more occurrence on the open alert of ``dedupe_key``
        (severity, title and details take the latest values)."""
        return Query(
            f"""
            INSERT INTO alerts AS a (component, severity, dedupe_key, title, details)
            VALUES (%(component)s, %(severity)s, %(dedupe_key)s, %(title)s, %(details)s)
            ON CONFLICT (dedupe_key) WHERE state <> 'resolved' DO UPDATE SET
                occurrences = a.occurrences + 1, last_seen_at = now(),
                component = EXCLUDED.component, severity = EXCLUDED.severity,
                title = EXCLUDED.title, details = EXCLUDED.details
            RETURNING {_COLUMNS}
            """,
            {
                "component": component,
                "severity": severity,
                "dedupe_key": dedupe_key,
                "title": title,
                "details": details,
            },
            one(Alert, "alert not fired"),
        )

    @write
    def acknowledge(self, alert_id: Id, *, actor_id: Id) -> Query[Alert]:
        """Someone is on it: firing -> acknowledged (``Conflict`` once resolved)."""
        return Query(
            f"""
            UPDATE alerts SET state = 'acknowledged',
                acknowledged_by_id = coalesce(acknowledged_by_id, %(actor_id)s),
                acknowledged_at = coalesce(acknowledged_at, now())
            WHERE id = %(alert_id)s
            RETURNING {_COLUMNS}
            """,
            {"alert_id": alert_id, "actor_id": actor_id},
            one(Alert, _missing(alert_id)),
        )

    @write
    def resolve(self, alert_id: Id) -> Query[Alert]:
        """The condition is over; the next ``fire`` of its key opens a new alert."""
        return Query(
            f"""
            UPDATE alerts SET state = 'resolved', resolved_at = coalesce(resolved_at, now())
            WHERE id = %(alert_id)s
            RETURNING {_COLUMNS}
            """,
            {"alert_id": alert_id},
            one(Alert, _missing(alert_id)),
        )

    @read
    def get(self, alert_id: Id) -> Query[Alert]:
        """The alert with this id."""
        return Query(
            f"SELECT {_COLUMNS} FROM alerts WHERE id = %(alert_id)s",
            {"alert_id": alert_id},
            one(Alert, _missing(alert_id)),
        )

    @read
    def list_firing(
        self, *, include_acknowledged: Flag = False, component: Component | None = None
    ) -> Query[builtins.list[Alert]]:
        """Open alerts, most severe first, then the most recently seen (at most 1000)."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM alerts
            WHERE (state = 'firing' OR (%(include_acknowledged)s AND state = 'acknowledged'))
              AND (%(component)s::text IS NULL OR component = %(component)s)
            ORDER BY {_SEVERITY_RANK}, last_seen_at DESC, id DESC
            LIMIT 1000
            """,
            {"include_acknowledged": include_acknowledged, "component": component},
            many(Alert),
        )
