"""The coordination tables keep their rules whoever writes to them (psql, another service)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

Conn = psycopg.Connection[Any]


def test_a_decision_default_must_be_one_of_its_options(conn: Conn) -> None:
    with pytest.raises(errors.CheckViolation, match="decisions_default_option_check"):
        conn.execute(
            "INSERT INTO decisions (decision_type, summary, options, default_option, expires_at) "
            "VALUES ('merge', 's', '{yes,no}', 'maybe', now() + interval '1 hour')"
        )


def test_a_resolved_decision_cannot_be_reopened(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO decisions (decision_type, summary, options, default_option, expires_at) "
        "VALUES ('merge', 's', '{yes,no}', 'no', now() + interval '1 hour')"
    )
    conn.execute("UPDATE decisions SET state = 'decided', choice = 'yes', decided_at = now()")
    with pytest.raises(psycopg.Error, match="state cannot change"):
        conn.execute("UPDATE decisions SET state = 'pending', choice = NULL, decided_at = NULL")


def test_an_in_flight_delivery_carries_its_claim(conn: Conn) -> None:
    conn.execute("INSERT INTO event_subscriptions (name, topic_pattern) VALUES ('s', '*')")
    conn.execute("INSERT INTO events (topic) VALUES ('a.b')")
    with pytest.raises(errors.CheckViolation, match="event_deliveries_claim_check"):
        conn.execute("UPDATE event_deliveries SET state = 'in_flight'")


def test_fan_out_copies_priority_and_honours_the_source_filter(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO event_subscriptions (name, topic_pattern, source_filter) "
        "VALUES ('bot', '*', 'bot'), ('any', '*', NULL)"
    )
    conn.execute("INSERT INTO events (topic, source, priority) VALUES ('a.b', 'web', 5)")
    rows = conn.execute(
        "SELECT s.name, d.priority FROM event_deliveries d "
        "JOIN event_subscriptions s ON s.id = d.subscription_id"
    ).fetchall()
    assert rows == [("any", 5)]


def test_wait_edges_go_with_their_lease(conn: Conn) -> None:
    conn.execute("SELECT * FROM lease_acquire('x', 'a', interval '1 minute')")
    conn.execute(
        "INSERT INTO lease_waits (waiter, lease_name, expires_at) "
        "VALUES ('b', 'x', now() + interval '1 minute')"
    )
    conn.execute("DELETE FROM leases WHERE name = 'x'")
    assert conn.execute("SELECT count(*) FROM lease_waits").fetchone() == (0,)


def test_every_commit_status_report_is_kept_in_the_history(conn: Conn) -> None:
    conn.execute("INSERT INTO users (username) VALUES ('ci')")
    conn.execute(
        "INSERT INTO repositories (owner_id, name) SELECT id, 'r' FROM users WHERE username = 'ci'"
    )
    for state in ("pending", "success"):
        conn.execute(
            "INSERT INTO commit_statuses (repository_id, commit_id, context, state) "
            "SELECT id, repeat('a', 40), 'ci', %s FROM repositories "
            "ON CONFLICT (repository_id, commit_id, context) DO UPDATE SET state = EXCLUDED.state",
            (state,),
        )
    assert conn.execute("SELECT state FROM commit_statuses").fetchall() == [("success",)]
    assert conn.execute("SELECT state FROM commit_status_history ORDER BY id").fetchall() == [
        ("pending",),
        ("success",),
    ]


def test_rate_limit_hit_refuses_bad_arguments_with_the_field(conn: Conn) -> None:
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("SELECT * FROM rate_limit_hit('k', 0, interval '1 minute', 1)")
    assert refused.value.diag.column_name == "limit"
