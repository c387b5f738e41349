"""db.coordination.events: publish and fan-out, consume with a visibility timeout, ack once,
nack with a delay, dead deliveries and replay, purge, and waiting on LISTEN/NOTIFY."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound
from forge_db.coordination.events import CHANNEL

Conn = psycopg.Connection[Any]


def _expire(conn: Conn, subscription: str) -> None:
    """Let the visibility timeout (or nack delay) of every delivery of ``subscription`` pass."""
    conn.execute(
        "UPDATE event_deliveries SET available_at = now() - interval '1 second' "
        "WHERE subscription_id = (SELECT id FROM event_subscriptions WHERE name = %s)",
        (subscription,),
    )


def _states(conn: Conn, subscription: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT d.state FROM event_deliveries d JOIN event_subscriptions s "
            "ON s.id = d.subscription_id WHERE s.name = %s ORDER BY d.event_id",
            (subscription,),
        )
    ]


def test_publish_fans_out_to_exact_prefix_and_wildcard_subscriptions(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    events.subscribe("exact", "issues.created")
    events.subscribe("prefix", "issues.*")
    events.subscribe("all", "*")
    events.subscribe("other", "landing.*")
    events.subscribe("from-bot", "*", source="bot")
    published = events.publish("issues.created", {"n": 1}, source="web", correlation_id="c-1")
    assert (published.topic, published.payload, published.source) == (
        "issues.created",
        {"n": 1},
        "web",
    )
    taken = {
        name: [d.event_id for d in events.consume(name)]
        for name in ("exact", "prefix", "all", "other", "from-bot")
    }
    assert taken == {
        "exact": [published.id],
        "prefix": [published.id],
        "all": [published.id],
        "other": [],
        "from-bot": [],
    }
    from_bot = events.publish("issues.created", source="bot")
    assert [d.event_id for d in events.consume("from-bot")] == [from_bot.id]


def test_a_prefix_pattern_does_not_match_a_longer_word(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    events.subscribe("issues", "issues.*")
    events.publish("issuesx.created")
    events.publish("issues")
    assert events.consume("issues") == []


def test_a_subscription_receives_only_events_published_after_it(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    events.publish("issues.created")
    events.subscribe("late", "*")
    assert events.consume("late") == []


def test_consume_takes_by_priority_then_in_event_order(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    events.subscribe("ordered", "*")
    low = [events.publish("job.run", {"i": i}).id for i in range(5)]
    urgent = events.publish("job.run", priority=10).id
    first = events.consume("ordered", 3)
    second = events.consume("ordered", 10)
    assert [d.event_id for d in first + second] == [urgent, *low]
    assert all(d.attempts == 1 and d.state == "in_flight" for d in first + second)
    assert len({d.fencing_token for d in first + second}) == 6


def test_ack_is_exactly_once(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    events.subscribe("once", "*")
    events.publish("job.run")
    (delivery,) = events.consume("once")
    assert delivery.fencing_token is not None
    assert events.ack("once", delivery.event_id, token=delivery.fencing_token) is True
    with pytest.raises(Conflict, match="stale"):
        events.ack("once", delivery.event_id, token=delivery.fencing_token)
    assert events.consume("once") == []


def test_an_unacked_delivery_comes_back_after_its_visibility_timeout(
    fdb: ForgeDB, conn: Conn
) -> None:
    events = fdb.coordination.events
    events.subscribe("redeliver", "*", ack_timeout_seconds=600)
    published = events.publish("job.run")
    (first,) = events.consume("redeliver", worker="dies")
    assert events.consume("redeliver") == []  # hidden while its timeout runs
    _expire(conn, "redeliver")
    (second,) = events.consume("redeliver", worker="survives")
    assert (second.event_id, second.attempts, second.claimed_by) == (published.id, 2, "survives")
    assert second.fencing_token
    assert first.fencing_token
    assert second.fencing_token > first.fencing_token
    with pytest.raises(Conflict):  # the first consumer's token is stale now
        events.ack("redeliver", first.event_id, token=first.fencing_token)
    assert events.ack("redeliver", second.event_id, token=second.fencing_token)
    assert _states(conn, "redeliver") == ["acked"]


def test_nack_delays_the_next_delivery(fdb: ForgeDB, conn: Conn) -> None:
    events = fdb.coordination.events
    events.subscribe("retry", "*")
    events.publish("job.run")
    (delivery,) = events.consume("retry")
    assert delivery.fencing_token is not None
    state = events.nack(
        "retry", delivery.event_id, token=delivery.fencing_token, delay=3600, error="backend down"
    )
    assert state == "pending"
    assert events.consume("retry") == []
    _expire(conn, "retry")
    (again,) = events.consume("retry")
    assert (again.attempts, again.last_error) == (2, "backend down")
    with pytest.raises(Conflict):
        events.nack("retry", delivery.event_id, token=delivery.fencing_token)


def test_after_max_attempts_a_delivery_is_dead_and_can_be_replayed(
    fdb: ForgeDB, conn: Conn
) -> None:
    events = fdb.coordination.events
    events.subscribe("fragile", "*", max_attempts=2)
    published = events.publish("job.run")
    (one,) = events.consume("fragile")
    assert one.fencing_token is not None
    assert events.nack("fragile", one.event_id, token=one.fencing_token) == "pending"
    (two,) = events.consume("fragile")
    assert two.fencing_token is not None
    assert events.nack("fragile", two.event_id, token=two.fencing_token, error="boom") == "dead"
    assert events.consume("fragile") == []
    (dead,) = events.dead("fragile")
    assert (dead.event_id, dead.state, dead.attempts, dead.last_error) == (
        published.id,
        "dead",
        2,
        "boom",
    )
    assert events.replay("fragile", [published.id]) == 1
    (replayed,) = events.consume("fragile")
    assert (replayed.event_id, replayed.attempts) == (published.id, 1)
    assert events.dead("fragile") == []


def test_a_timed_out_delivery_past_max_attempts_goes_dead_instead_of_redelivered(
    fdb: ForgeDB, conn: Conn
) -> None:
    events = fdb.coordination.events
    events.subscribe("timeouts", "*", max_attempts=1)
    events.publish("job.run")
    assert len(events.consume("timeouts")) == 1
    _expire(conn, "timeouts")
    assert events.consume("timeouts") == []
    assert _states(conn, "timeouts") == ["dead"]
    assert events.replay("timeouts") == 1
    assert _states(conn, "timeouts") == ["pending"]


def test_purge_deletes_acked_deliveries_in_batches(fdb: ForgeDB, conn: Conn) -> None:
    events = fdb.coordination.events
    events.subscribe("purged", "*")
    for _ in range(5):
        events.publish("job.run")
    taken = events.consume("purged", 4)
    for d in taken:
        assert d.fencing_token is not None
        events.ack("purged", d.event_id, token=d.fencing_token)
    assert events.purge(batch=3) == 3
    assert events.purge(batch=3) == 1
    assert events.purge(batch=3) == 0
    assert _states(conn, "purged") == ["pending"]


def test_unsubscribe_drops_the_subscription_and_its_deliveries(fdb: ForgeDB, conn: Conn) -> None:
    events = fdb.coordination.events
    events.subscribe("gone", "*")
    events.publish("job.run")
    assert events.unsubscribe("gone") is True
    assert events.unsubscribe("gone") is False
    assert _states(conn, "gone") == []
    with pytest.raises(NotFound):
        events.next_due("gone")


def test_subscribe_again_changes_the_subscription(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    first = events.subscribe("same", "issues.*")
    again = events.subscribe("SAME", "landing.*", max_attempts=3)
    assert again.id == first.id
    assert (again.name, again.topic_pattern, again.max_attempts) == ("same", "landing.*", 3)
    assert [s.name for s in events.subscriptions()] == ["same"]


def test_bad_topics_and_payloads_are_refused_by_name(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    with pytest.raises(InvalidInput) as topic:
        events.publish("Issues Created")
    assert topic.value.field == "topic"
    with pytest.raises(InvalidInput) as payload:
        events.publish("job.run", {"x": float("nan")})
    assert payload.value.field == "payload"
    with pytest.raises(InvalidInput) as pattern:
        events.subscribe("bad", "issues.*.x")
    assert pattern.value.field == "topic_pattern"


def test_consume_of_an_unknown_subscription_takes_nothing(fdb: ForgeDB) -> None:
    assert fdb.coordination.events.consume("nobody") == []


def test_wait_returns_at_once_when_something_is_due(fdb: ForgeDB) -> None:
    events = fdb.coordination.events
    events.subscribe("ready", "*")
    assert events.wait("ready", timeout=0) is False
    events.publish("job.run")
    assert events.wait("ready", timeout=60) is True


def test_wait_wakes_when_an_event_is_published(fdb: ForgeDB, database_url: str) -> None:
    events = fdb.coordination.events
    events.subscribe("sleeper", "*")
    listening = threading.Event()
    woke: list[bool] = []

    def sleeper() -> None:
        listening.set()
        woke.append(events.wait("sleeper", timeout=120))

    thread = threading.Thread(target=sleeper)
    thread.start()
    listening.wait()
    # The waiter may not be listening yet when this commits; then its first check sees the
    # delivery. Either way it must wake long before its timeout.
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("INSERT INTO events (topic) VALUES ('job.run')")
    thread.join(timeout=60)
    assert not thread.is_alive(), "wait did not wake on the publish"
    assert woke == [True]


def _waiting_on_the_bus_lock(conn: Conn) -> int:
    """Sessions blocked on the advisory lock that orders waiters against publishers."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1701147252 "
        "AND NOT granted"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_waiter_arriving_during_an_uncommitted_publish_wakes_at_its_commit(
    fdb: ForgeDB, database_url: str
) -> None:
    events = fdb.coordination.events
    events.subscribe("late", "*")
    woke: list[bool] = []
    with (
        psycopg.connect(database_url) as publisher,
        psycopg.connect(database_url, autocommit=True) as watcher,
    ):
        # Nobody waits yet, so this publish will not notify when it commits.
        publisher.execute("INSERT INTO events (topic) VALUES ('job.run')")
        thread = threading.Thread(target=lambda: woke.append(events.wait("late", timeout=30)))
        thread.start()
        for _ in range(400):
            if _waiting_on_the_bus_lock(watcher):
                break
            time.sleep(0.025)
        else:
            pytest.fail("the waiter did not wait for the publish in progress to end")
        publisher.commit()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the waiter missed a publish that committed as it registered"
    assert woke == [True]


def test_a_publish_notifies_only_while_a_consumer_waits(fdb: ForgeDB, database_url: str) -> None:
    events = fdb.coordination.events
    subscription = events.subscribe("watched", "*")
    with (
        psycopg.connect(database_url, autocommit=True) as listener,
        psycopg.connect(database_url, autocommit=True) as other,
    ):
        listener.execute(f"LISTEN {CHANNEL}")
        other.execute("INSERT INTO events (topic) VALUES ('job.quiet')")
        assert list(listener.notifies(timeout=0.5)) == [], "notified with nobody waiting"
        for d in events.consume("watched", 10):
            assert d.fencing_token is not None
            events.ack("watched", d.event_id, token=d.fencing_token)

        woke: list[bool] = []
        thread = threading.Thread(target=lambda: woke.append(events.wait("watched", timeout=30)))
        thread.start()
        for _ in range(400):
            row = other.execute(
                "SELECT count(*) FROM event_waiters WHERE subscription_id = %s",
                (subscription.id,),
            ).fetchone()
            if row is not None and row[0]:
                break
            time.sleep(0.025)
        else:
            pytest.fail("the waiter never registered")
        other.execute("INSERT INTO events (topic) VALUES ('job.wake')")
        heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        thread.join(timeout=20)
        assert woke == [True]
        assert heard == [str(subscription.id)]
        # The waiter is gone (the publish took its registration): quiet again.
        other.execute("INSERT INTO events (topic) VALUES ('job.quiet')")
        assert list(listener.notifies(timeout=0.5)) == [], "notified after the waiter left"


def test_wait_is_refused_inside_a_transaction(db: ForgeDB) -> None:
    db.coordination.events.subscribe("tx", "*")
    with db.transaction() as tx, pytest.raises(Conflict, match="transaction"):
        tx.coordination.events.wait("tx", timeout=1)


def test_wait_refuses_a_bad_timeout(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.coordination.events.wait("any", timeout=-1)
    assert refused.value.field == "timeout"


def test_extend_keeps_a_delivery_hidden_and_needs_the_token(fdb: ForgeDB, conn: Conn) -> None:
    events = fdb.coordination.events
    events.subscribe("long", "*")
    events.publish("job.run")
    (d,) = events.consume("long", visibility_timeout=1)
    assert d.fencing_token is not None
    extended = events.extend("long", d.event_id, token=d.fencing_token, visibility_timeout=3600)
    assert extended.available_at > d.available_at
    with pytest.raises(Conflict):
        events.extend("long", d.event_id, token=d.fencing_token + 1, visibility_timeout=60)
    with pytest.raises(Conflict):
        events.ack("long", UUID(int=0), token=d.fencing_token)


def test_consumers_skip_deliveries_another_consumer_is_taking(db: ForgeDB, conn: Conn) -> None:
    events = db.coordination.events
    events.subscribe("busy", "*")
    first, second = events.publish("job.run").id, events.publish("job.run").id
    # A lock wait here would fail the statement instead of hanging the test.
    conn.execute("SET lock_timeout = '5s'")
    query = events.consume.query("busy", 1, worker="other")
    with db.transaction() as tx:
        (held,) = tx.coordination.events.consume("busy", 1, worker="slow")
        assert held.event_id == first
        taken = conn.execute(query.sql, query.params).fetchall()
        assert [row[1] for row in taken] == [second]
