"""``db.coordination.events``: the durable event bus.

Publishing is one INSERT: the schema's ``events_fan_out`` trigger queues a delivery for every
matching subscription (an exact topic, ``prefix.*`` or ``*``, optionally one source or one
repository) in the same statement, and, when a consumer of that subscription is blocked in
``wait``, notifies channel ``forge_db_events`` as the publisher commits. Only then: a notifying
transaction holds a cluster-wide lock through its commit, so publishers that all notified
would commit one at a time; ``wait`` registers the waiter (table ``event_waiters``) under a lock
that orders it against publishers, so no publish is missed. Consumers take deliveries the one claim way (``forge_db.claims``): by priority then
event order, ``FOR UPDATE SKIP LOCKED``, each with a fresh fencing token and a visibility
timeout after which an unacknowledged delivery is taken again. ``ack`` and ``nack`` present the
token, so a consumer whose timeout ran out cannot touch its successor's delivery; after the
subscription's ``max_attempts`` a delivery is dead, to be listed and replayed.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Awaitable
from typing import Annotated, Any, Final, Protocol, cast, overload
from uuid import UUID

from psycopg.types.json import Jsonb

from ..claims import LeaseSeconds, Token, Worker, fenced, held, take
from ..errors import InvalidInput, NotFound, register_constraint_messages
from ..inputs import Bounded, Id, ListOf, Text
from ..query import (
    AsyncRunner,
    Namespace,
    Query,
    R,
    Result,
    Shape,
    SyncRunner,
    affected,
    many,
    nothing,
    one,
    read,
    rowcount,
    scalar,
    scalar_or_none,
    write,
)
from .models import Delivery, Event, Subscription
from .rules import UUID_RULE, JsonObject, Label, Seconds, Uuid

__all__ = ["CHANNEL", "Events"]

register_constraint_messages(
    {
        "event_subscriptions_name_lower_key": "a subscription with this name",
        "events_topic_check": "topic: dotted lowercase words, e.g. issues.created",
    }
)

CHANNEL: Final = "forge_db_events"
"""The notification channel of the bus; each notification's payload is a subscription id.

Sent only to wake consumers registered by ``wait``: a bare ``LISTEN`` on it hears a publish
only while some consumer of that subscription waits.
"""

Topic = Annotated[
    str,
    Text(
        200,
        min_length=1,
        pattern=r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*",
        explain="must be dotted lowercase words, e.g. issues.created",
        sample="issues.created",
    ),
]
TopicPattern = Annotated[
    str,
    Text(
        200,
        min_length=1,
        pattern=r"\*|[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*(?:\.\*)?",
        explain="must be a topic, a topic followed by .* (everything below it), or *",
        sample="issues.*",
    ),
]
SubscriptionName = Annotated[
    str,
    Text(
        100,
        min_length=1,
        pattern=r"[A-Za-z0-9][A-Za-z0-9._:-]*",
        explain="may hold letters, digits, '.', '_', ':' and '-'",
        sample="indexer",
    ),
]
Priority = Annotated[int, Bounded(-100, 100)]
Batch = Annotated[int, Bounded(1, 1000)]
Attempts = Annotated[int, Bounded(1, 1000)]
Reason = Annotated[str, Text(4096, sample="failed")]
EventIds = Annotated[list[UUID], ListOf(UUID_RULE, 1000)]

_SUBSCRIPTION_COLUMNS: Final = (
    "id, name, topic_pattern, source_filter, repository_id, active, max_attempts, "
    "ack_timeout_seconds, created_at"
)
_EVENT_COLUMNS: Final = (
    "id, topic, payload, source, correlation_id, priority, repository_id, created_at"
)


def _delivery_columns(d: str, e: str, s: str) -> str:
    """The Delivery columns of deliveries ``d`` joined to their event ``e`` and subscription."""
    return (
        f"{s}.name AS subscription, {d}.event_id, {e}.topic, {e}.payload, {e}.source, "
        f"{e}.correlation_id, {d}.priority, {e}.repository_id, {e}.created_at AS published_at, "
        f"{d}.state, {d}.attempts, {d}.claimed_by, {d}.fencing_token, {d}.available_at, "
        f"{d}.last_error"
    )


_SUBSCRIPTION: Final = (
    "SELECT id, name, max_attempts, ack_timeout_seconds FROM event_subscriptions "
    "WHERE lower(name) = lower(%(subscription)s)"
)


def _missing(subscription: str) -> str:
    return f"subscription {subscription!r} not found"


class _Waits(Protocol):
    def wait(
        self,
        channel: str,
        payload: str,
        ready: Query[float | None],
        within: float,
        enter: Query[Any] | None = None,
        leave: Query[Any] | None = None,
    ) -> Any: ...


# The advisory lock class of event_waiters (schema: events_fan_out), with the subscription id.
_WAITERS_LOCK: Final = "1701147252, (%(subscription_id)s::bigint %% 2147483648)::integer"


def _register(subscription_id: int, within: float) -> Query[None]:
    """Register this session as waiting on the subscription, ordered against publishers.

    The exclusive lock waits for every publish holding the shared one to end (so the first
    look after this sees their deliveries) and makes later publishes wait for this
    registration's commit (so they see it and notify). The row outlives a dead waiter by
    ``within`` and a margin at most.
    """
    return Query(
        f"""
        WITH locked AS (SELECT pg_advisory_xact_lock({_WAITERS_LOCK})),
        stale AS (
            DELETE FROM event_waiters
            WHERE subscription_id = %(subscription_id)s AND expires_at < clock_timestamp()
        )
        INSERT INTO event_waiters (subscription_id, backend_pid, expires_at)
        SELECT %(subscription_id)s, pg_backend_pid(),
               clock_timestamp() + make_interval(secs => %(within)s + 5)
        FROM locked
        ON CONFLICT (subscription_id, backend_pid) DO UPDATE SET expires_at = EXCLUDED.expires_at
        """,
        {"subscription_id": subscription_id, "within": within},
        nothing,
    )


def _unregister(subscription_id: int) -> Query[None]:
    """This session no longer waits on the subscription (a publish may have taken the row)."""
    return Query(
        """
        DELETE FROM event_waiters
        WHERE subscription_id = %(subscription_id)s AND backend_pid = pg_backend_pid()
        """,
        {"subscription_id": subscription_id},
        nothing,
    )


class Events(Namespace[R]):
    """Publish, subscribe, consume with a visibility timeout, ack once, nack, replay, wait."""

    @write
    def publish(
        self,
        topic: Topic,
        payload: JsonObject | None = None,
        *,
        source: Label | None = None,
        correlation_id: Label | None = None,
        priority: Priority = 0,
        repository_id: Id | None = None,
    ) -> Query[Event]:
        """Store an event and queue it for every matching subscription, in one statement."""
        return Query(
            f"""
            INSERT INTO events (topic, payload, source, correlation_id, priority, repository_id)
            VALUES (%(topic)s, %(payload)s, %(source)s, %(correlation_id)s, %(priority)s,
                    %(repository_id)s)
            RETURNING {_EVENT_COLUMNS}
            """,
            {
                "topic": topic,
                "payload": Jsonb(payload or {}),
                "source": source,
                "correlation_id": correlation_id,
                "priority": priority,
                "repository_id": repository_id,
            },
            one(Event, "event not published"),
        )

    @write
    def subscribe(
        self,
        name: SubscriptionName,
        topic_pattern: TopicPattern,
        *,
        source: Label | None = None,
        repository_id: Id | None = None,
        max_attempts: Attempts = 10,
        ack_timeout_seconds: LeaseSeconds = 60,
    ) -> Query[Subscription]:
        """Create the subscription ``name``, or change and reactivate it (idempotent).

        It receives the events published from now on whose topic matches ``topic_pattern``
        (an exact topic, ``prefix.*`` or ``*``), of ``source`` and ``repository_id`` when given.
        """
        return Query(
            f"""
            INSERT INTO event_subscriptions (name, topic_pattern, source_filter, repository_id,
                                             max_attempts, ack_timeout_seconds)
            VALUES (%(name)s, %(topic_pattern)s, %(source)s, %(repository_id)s,
                    %(max_attempts)s, %(ack_timeout_seconds)s)
            ON CONFLICT (lower(name)) DO UPDATE SET
                topic_pattern = EXCLUDED.topic_pattern,
                source_filter = EXCLUDED.source_filter,
                repository_id = EXCLUDED.repository_id,
                max_attempts = EXCLUDED.max_attempts,
                ack_timeout_seconds = EXCLUDED.ack_timeout_seconds,
                active = true
            RETURNING {_SUBSCRIPTION_COLUMNS}
            """,
            {
                "name": name,
                "topic_pattern": topic_pattern,
                "source": source,
                "repository_id": repository_id,
                "max_attempts": max_attempts,
                "ack_timeout_seconds": ack_timeout_seconds,
            },
            one(Subscription, f"subscription {name!r} not created"),
        )

    @write
    def unsubscribe(self, name: SubscriptionName) -> Query[bool]:
        """Delete the subscription and its deliveries; ``False`` if there was none."""
        return Query(
            "DELETE FROM event_subscriptions WHERE lower(name) = lower(%(name)s)",
            {"name": name},
            affected,
        )

    @read
    def subscriptions(self) -> Query[builtins.list[Subscription]]:
        """Every subscription, by name."""
        return Query(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM event_subscriptions ORDER BY lower(name), id",
            {},
            many(Subscription),
        )

    @write
    def consume(
        self,
        subscription: SubscriptionName,
        batch: Batch = 10,
        visibility_timeout: LeaseSeconds | None = None,
        *,
        worker: Worker = "consumer",
    ) -> Query[builtins.list[Delivery]]:
        """Take up to ``batch`` deliveries, by priority then event order, for ``worker``.

        Pending deliveries and those whose visibility timeout ran out are taken
        (``FOR UPDATE SKIP LOCKED``), each with a new fencing token, hidden from other consumers
        for ``visibility_timeout`` seconds (default: the subscription's ``ack_timeout_seconds``).
        One that was already taken ``max_attempts`` times goes dead instead, so a batch may
        hold fewer deliveries than were due.
        """
        lease = "coalesce(%(lease)s::int, sub.ack_timeout_seconds)"
        return Query(
            f"""
            WITH sub AS ({_SUBSCRIPTION}),
            picked AS (
                SELECT d.subscription_id, d.event_id
                FROM event_deliveries d JOIN sub ON d.subscription_id = sub.id
                WHERE d.state IN ('pending', 'in_flight') AND d.available_at <= now()
                ORDER BY d.priority DESC, d.event_id
                LIMIT %(batch)s
                FOR UPDATE OF d SKIP LOCKED
            ),
            taken AS (
                UPDATE event_deliveries d SET
                    state = CASE WHEN d.attempts >= sub.max_attempts THEN 'dead'
                                 ELSE 'in_flight' END,
                    attempts = d.attempts + (d.attempts < sub.max_attempts)::int,
                    last_error = CASE WHEN d.attempts >= sub.max_attempts
                                      THEN coalesce(d.last_error, 'not acknowledged in time')
                                      ELSE d.last_error END,
                    {take(expires="available_at", lease=lease)}
                FROM picked, sub
                WHERE d.subscription_id = picked.subscription_id
                  AND d.event_id = picked.event_id
                RETURNING d.*
            )
            SELECT {_delivery_columns("t", "e", "sub")}
            FROM taken t JOIN events e ON e.id = t.event_id CROSS JOIN sub
            WHERE t.state = 'in_flight'
            ORDER BY t.priority DESC, t.event_id
            """,
            {
                "subscription": subscription,
                "batch": batch,
                "lease": visibility_timeout,
                "worker": worker,
            },
            many(Delivery),
        )

    @write
    def ack(self, subscription: SubscriptionName, event_id: Uuid, *, token: Token) -> Query[bool]:
        """Acknowledge a delivery taken with ``token``: exactly once; a stale token is
        ``Conflict`` (its timeout ran out and another consumer took it, or it was acked)."""
        return Query(
            f"""
            UPDATE event_deliveries d SET state = 'acked', acked_at = now()
            FROM ({_SUBSCRIPTION}) sub
            WHERE d.subscription_id = sub.id AND d.event_id = %(event_id)s
              AND d.state = 'in_flight' AND {held("d")}
            """,
            {"subscription": subscription, "event_id": event_id, "token": token},
            fenced(affected, f"ack of event {event_id} on {subscription!r}"),
        )

    @write
    def nack(
        self,
        subscription: SubscriptionName,
        event_id: Uuid,
        *,
        token: Token,
        delay: Seconds = 0,
        error: Reason | None = None,
    ) -> Query[str]:
        """Give a delivery back, to be taken again after ``delay`` seconds; after the
        subscription's ``max_attempts`` it goes dead instead. Returns the new state."""
        return Query(
            f"""
            UPDATE event_deliveries d SET
                state = CASE WHEN d.attempts >= sub.max_attempts THEN 'dead' ELSE 'pending' END,
                available_at = now() + make_interval(secs => %(delay)s),
                last_error = coalesce(%(error)s, d.last_error)
            FROM ({_SUBSCRIPTION}) sub
            WHERE d.subscription_id = sub.id AND d.event_id = %(event_id)s
              AND d.state = 'in_flight' AND {held("d")}
            RETURNING d.state
            """,
            {
                "subscription": subscription,
                "event_id": event_id,
                "token": token,
                "delay": delay,
                "error": error,
            },
            fenced(scalar(str), f"nack of event {event_id} on {subscription!r}"),
        )

    @write
    def extend(
        self,
        subscription: SubscriptionName,
        event_id: Uuid,
        *,
        token: Token,
        visibility_timeout: LeaseSeconds,
    ) -> Query[Delivery]:
        """Keep a delivery hidden for ``visibility_timeout`` more seconds (long work)."""
        return Query(
            f"""
            WITH sub AS ({_SUBSCRIPTION}),
            extended AS (
                UPDATE event_deliveries d
                SET available_at = now() + make_interval(secs => %(lease)s)
                FROM sub
                WHERE d.subscription_id = sub.id AND d.event_id = %(event_id)s
                  AND d.state = 'in_flight' AND {held("d")}
                RETURNING d.*
            )
            SELECT {_delivery_columns("t", "e", "sub")}
            FROM extended t JOIN events e ON e.id = t.event_id CROSS JOIN sub
            """,
            {
                "subscription": subscription,
                "event_id": event_id,
                "token": token,
                "lease": visibility_timeout,
            },
            fenced(one(Delivery, "delivery not found"), f"extend of event {event_id}"),
        )

    @read
    def dead(
        self, subscription: SubscriptionName, *, limit: Batch = 100
    ) -> Query[builtins.list[Delivery]]:
        """The oldest ``limit`` dead deliveries of a subscription, in event order."""
        return Query(
            f"""
            SELECT {_delivery_columns("d", "e", "sub")}
            FROM ({_SUBSCRIPTION}) sub
            JOIN event_deliveries d ON d.subscription_id = sub.id AND d.state = 'dead'
            JOIN events e ON e.id = d.event_id
            ORDER BY d.event_id
            LIMIT %(limit)s
            """,
            {"subscription": subscription, "limit": limit},
            many(Delivery),
        )

    @write
    def replay(
        self,
        subscription: SubscriptionName,
        event_ids: EventIds | None = None,
    ) -> Query[int]:
        """Queue dead deliveries again with fresh attempts: those of ``event_ids``, or all.

        Returns how many were queued.
        """
        return Query(
            f"""
            UPDATE event_deliveries d SET state = 'pending', attempts = 0, available_at = now()
            FROM ({_SUBSCRIPTION}) sub
            WHERE d.subscription_id = sub.id AND d.state = 'dead'
              AND (%(all)s OR d.event_id = ANY (%(event_ids)s::uuid[]))
            """,
            {
                "subscription": subscription,
                "all": event_ids is None,
                "event_ids": event_ids or [],
            },
            rowcount,
        )

    @write
    def purge(self, *, older_than: Seconds = 0, batch: Batch = 1000) -> Query[int]:
        """Delete up to ``batch`` deliveries acknowledged at least ``older_than`` seconds ago,
        oldest first; returns how many (call until 0). Events stay: they are the log."""
        return Query(
            """
            DELETE FROM event_deliveries d
            USING (SELECT subscription_id, event_id FROM event_deliveries
                   WHERE state = 'acked'
                     AND acked_at <= now() - make_interval(secs => %(older_than)s)
                   ORDER BY acked_at
                   LIMIT %(batch)s
                   FOR UPDATE SKIP LOCKED) old
            WHERE d.subscription_id = old.subscription_id AND d.event_id = old.event_id
            """,
            {"older_than": older_than, "batch": batch},
            rowcount,
        )

    @read
    def next_due(self, subscription: SubscriptionName) -> Query[float | None]:
        """Seconds until a delivery of the subscription can be taken (0 or less: now), or
        ``None`` when nothing is queued; ``NotFound`` for an unknown subscription."""
        return Query(
            f"""
            SELECT (SELECT extract(epoch FROM min(d.available_at) - clock_timestamp())::float8
                    FROM event_deliveries d
                    WHERE d.subscription_id = sub.id AND d.state IN ('pending', 'in_flight'))
            FROM ({_SUBSCRIPTION}) sub
            """,
            {"subscription": subscription},
            _due(subscription),
        )

    @overload
    def wait(self: Events[SyncRunner], subscription: str, *, timeout: float = 30.0) -> bool: ...

    @overload
    def wait(
        self: Events[AsyncRunner], subscription: str, *, timeout: float = 30.0
    ) -> Awaitable[bool]: ...

    def wait(self, subscription: str, *, timeout: float = 30.0) -> bool | Awaitable[bool]:
        """Block until the subscription has a delivery to take, or ``timeout`` seconds pass.

        Uses ``LISTEN forge_db_events`` and registers the waiter, so that a publish notifies
        (and wakes it) when it commits, while publishes with nobody waiting do not; a
        delivery whose delay or visibility timeout is about to end is waited for exactly, so
        consumers never poll. ``True`` when something can be taken. Async namespaces return an
        awaitable. Not inside a transaction (notifications arrive between transactions).
        """
        if type(timeout) not in (int, float) or not 0 <= timeout <= 86_400 or math.isnan(timeout):
            raise InvalidInput(
                "timeout: must be a number of seconds from 0 to 86400", field="timeout"
            )
        ready = Events.next_due.query(self, subscription)
        sub_id = _subscription_id(subscription)
        waiter = cast(_Waits, self._runner)
        if self._async:
            return _wait_async(self, waiter, sub_id, ready, float(timeout))
        found: int = self._runner.run(sub_id)  # type: ignore[attr-defined]
        within = float(timeout)
        result: bool = waiter.wait(
            CHANNEL, str(found), ready, within, _register(found, within), _unregister(found)
        )
        return result


async def _wait_async(
    events: Events[Any],
    waiter: _Waits,
    sub_id: Query[int],
    ready: Query[float | None],
    within: float,
) -> bool:
    found: int = await events._runner.run(sub_id)
    result: bool = await waiter.wait(
        CHANNEL, str(found), ready, within, _register(found, within), _unregister(found)
    )
    return result


def _subscription_id(subscription: str) -> Query[int]:
    """The id of a subscription: the payload of its notifications."""
    return Query(
        f"SELECT id FROM ({_SUBSCRIPTION}) sub",
        {"subscription": subscription},
        scalar(int, _missing(subscription)),
    )


def _due(subscription: str) -> Shape[float | None]:
    """The first column of the one row; no row (no such subscription) is ``NotFound``."""
    shape = scalar_or_none(float)

    def convert(result: Result) -> float | None:
        if not result.rows:
            raise NotFound(_missing(subscription))
        return shape.convert(result)

    return Shape(convert, shape.columns)
