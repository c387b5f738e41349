"""db.coordination.health: heartbeats, and health derived in SQL from their reports and age."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from forge_db import ForgeDB, InvalidInput

Conn = psycopg.Connection[Any]


def _age(conn: Conn, instance: str, seconds: int) -> None:
    conn.execute(
        "UPDATE component_health SET last_heartbeat_at = now() - make_interval(secs => %s) "
        "WHERE instance = %s",
        (seconds, instance),
    )


def test_a_heartbeat_records_status_and_metadata(fdb: ForgeDB) -> None:
    beat = fdb.coordination.health.heartbeat(
        "landing", "host-1:42", details={"queue": 3}, version="1.2.0"
    )
    assert (beat.component, beat.instance, beat.health, beat.reported) == (
        "landing",
        "host-1:42",
        "healthy",
        "ok",
    )
    assert (beat.details, beat.version) == ({"queue": 3}, "1.2.0")
    again = fdb.coordination.health.heartbeat("landing", "host-1:42", status="degraded")
    assert again.health == "degraded"
    assert again.last_heartbeat_at is not None
    assert beat.last_heartbeat_at is not None
    assert again.last_heartbeat_at >= beat.last_heartbeat_at


def test_status_derives_health_from_report_and_staleness(fdb: ForgeDB, conn: Conn) -> None:
    health = fdb.coordination.health
    for instance in ("fresh", "slow", "silent", "sick", "down"):
        health.heartbeat("runner", instance)
    health.heartbeat("runner", "sick", status="degraded")
    health.heartbeat("runner", "down", status="down")
    _age(conn, "slow", 90)
    _age(conn, "silent", 600)
    found = {s.instance: s.health for s in health.status("runner")}
    assert found == {
        "fresh": "healthy",
        "slow": "degraded",
        "silent": "dead",
        "sick": "degraded",
        "down": "dead",
    }
    lenient = {
        s.instance: s.health for s in health.status("runner", stale_after=120, dead_after=900)
    }
    assert (lenient["slow"], lenient["silent"]) == ("healthy", "degraded")


def test_a_component_that_never_reported_is_unknown(fdb: ForgeDB) -> None:
    (status,) = fdb.coordination.health.status("ghost")
    assert (status.component, status.instance, status.health) == ("ghost", None, "unknown")


def test_status_of_everything_lists_every_component(fdb: ForgeDB) -> None:
    health = fdb.coordination.health
    health.heartbeat("b-component", "1")
    health.heartbeat("a-component", "1")
    assert [s.component for s in health.status()] == ["a-component", "b-component"]


def test_thresholds_out_of_order_are_refused(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.coordination.health.status(stale_after=600, dead_after=60)
    assert refused.value.field == "dead_after"
