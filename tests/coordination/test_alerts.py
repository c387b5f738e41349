"""db.coordination.alerts: deduplicated firing, acknowledgement, resolution and recurrence."""

from __future__ import annotations

import pytest
from support import make_user

from forge_db import Conflict, ForgeDB, NotFound


def test_firing_again_counts_on_the_open_alert(fdb: ForgeDB) -> None:
    alerts = fdb.coordination.alerts
    first = alerts.fire("db", "warning", "disk:db1", "Disk 80% full")
    again = alerts.fire("db", "critical", "disk:db1", "Disk 95% full")
    assert again.id == first.id
    assert (again.occurrences, again.severity, again.title) == (2, "critical", "Disk 95% full")
    assert again.last_seen_at >= first.last_seen_at
    assert [a.id for a in alerts.list_firing()] == [first.id]


def test_acknowledge_and_resolve_then_a_recurrence_opens_a_new_alert(fdb: ForgeDB) -> None:
    alerts = fdb.coordination.alerts
    operator = make_user(fdb)
    alert = alerts.fire("landing", "warning", "queue:stuck", "Queue stuck")
    acked = alerts.acknowledge(alert.id, actor_id=operator.id)
    assert (acked.state, acked.acknowledged_by_id) == ("acknowledged", operator.id)
    assert alerts.list_firing() == []
    assert [a.id for a in alerts.list_firing(include_acknowledged=True)] == [alert.id]
    still = alerts.fire("landing", "warning", "queue:stuck", "Queue stuck")
    assert (still.id, still.occurrences, still.state) == (alert.id, 2, "acknowledged")
    resolved = alerts.resolve(alert.id)
    assert resolved.state == "resolved"
    assert resolved.resolved_at is not None
    recurrence = alerts.fire("landing", "warning", "queue:stuck", "Queue stuck")
    assert recurrence.id != alert.id
    assert (recurrence.state, recurrence.occurrences) == ("firing", 1)
    with pytest.raises(Conflict):
        alerts.acknowledge(alert.id, actor_id=operator.id)


def test_list_firing_orders_by_severity_then_recency(fdb: ForgeDB) -> None:
    alerts = fdb.coordination.alerts
    info = alerts.fire("a", "info", "k1", "info")
    warning = alerts.fire("a", "warning", "k2", "warning")
    critical = alerts.fire("b", "critical", "k3", "critical")
    later_warning = alerts.fire("a", "warning", "k4", "warning 2")
    assert [a.id for a in alerts.list_firing()] == [
        critical.id,
        later_warning.id,
        warning.id,
        info.id,
    ]
    assert [a.id for a in alerts.list_firing(component="b")] == [critical.id]


def test_an_unknown_alert_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound):
        fdb.coordination.alerts.resolve(2**62)
