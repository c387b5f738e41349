"""Models of the coordination domain: events, leases, decisions, limits, settings, health."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Alert",
    "ComponentStatus",
    "ConfigValue",
    "Deadlock",
    "Decision",
    "Delivery",
    "Event",
    "Lease",
    "LeaseGrant",
    "RateLimit",
    "SecretValue",
    "Subscription",
    "Wait",
]


class Event(BaseModel):
    """A published event, as stored."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    topic: str
    payload: dict[str, Any]
    source: str | None
    correlation_id: str | None
    priority: int
    repository_id: int | None
    created_at: datetime


class Subscription(BaseModel):
    """A durable consumer of the event bus."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    topic_pattern: str
    source_filter: str | None
    repository_id: int | None
    active: bool
    max_attempts: int
    ack_timeout_seconds: int
    created_at: datetime


class Delivery(BaseModel):
    """An event taken by a consumer: ack or nack it with its ``fencing_token``."""

    model_config = ConfigDict(frozen=True)

    subscription: str
    event_id: UUID
    topic: str
    payload: dict[str, Any]
    source: str | None
    correlation_id: str | None
    priority: int
    repository_id: int | None
    published_at: datetime
    state: str
    attempts: int
    claimed_by: str | None
    fencing_token: int | None
    available_at: datetime
    last_error: str | None


class LeaseGrant(BaseModel):
    """The answer to an acquisition: whether it was granted, and who holds the lease now."""

    model_config = ConfigDict(frozen=True)

    name: str
    acquired: bool
    holder: str
    fencing_token: int
    expires_at: datetime


class Lease(BaseModel):
    """A live lease on a named resource."""

    model_config = ConfigDict(frozen=True)

    name: str
    holder: str
    fencing_token: int
    acquired_at: datetime
    expires_at: datetime


class Wait(BaseModel):
    """A wait-for edge: ``waiter`` waits for ``lease_name``, held by ``holder``."""

    model_config = ConfigDict(frozen=True)

    waiter: str
    lease_name: str
    holder: str | None
    created_at: datetime
    expires_at: datetime


class Deadlock(BaseModel):
    """A cycle of the wait-for graph: each member waits for the next one's lease.

    ``victim`` is the youngest waiter of the cycle (the latest edge; ties by name), whose
    release of its own leases or wait breaks the cycle and loses the least waiting.
    """

    model_config = ConfigDict(frozen=True)

    members: list[str]
    resources: list[str]
    victim: str


class Decision(BaseModel):
    """A question waiting for a human, or how it was resolved."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    repository_id: int | None
    decision_type: str
    summary: str
    options: list[str]
    default_option: str
    context: dict[str, Any]
    requested_by: str | None
    state: Literal["pending", "decided", "auto_resolved", "cancelled"]
    choice: str | None
    decided_by_id: int | None
    decided_at: datetime | None
    expires_at: datetime
    created_at: datetime


class RateLimit(BaseModel):
    """The outcome of a hit, with what GitHub's limit, remaining and reset headers carry."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    limit: int
    remaining: int
    reset_at: datetime
    retry_after: float = Field(description="seconds until the hit would be allowed; 0 if it was")


class ConfigValue(BaseModel):
    """A setting; a secret's ``value`` is always ``None`` here (read it with ``get_secret``)."""

    model_config = ConfigDict(frozen=True)

    key: str
    repository_id: int | None
    value_type: Literal["string", "integer", "number", "boolean", "duration", "json"]
    value: Any
    secret: bool
    description: str
    updated_at: datetime


class SecretValue(BaseModel):
    """A secret setting: reading ``value`` reveals it; its ``repr``, ``str`` and dumps do not."""

    model_config = ConfigDict(frozen=True)

    key: str
    repository_id: int | None
    value_type: str
    value: Any = Field(repr=False, exclude=True)


class ComponentStatus(BaseModel):
    """An instance's health as derived from its last heartbeat's report and age."""

    model_config = ConfigDict(frozen=True)

    component: str
    instance: str | None
    health: Literal["healthy", "degraded", "dead", "unknown"]
    reported: str | None
    details: dict[str, Any]
    version: str | None
    last_heartbeat_at: datetime | None
    age_seconds: float | None


class Alert(BaseModel):
    """An operational alert."""

    model_config = ConfigDict(frozen=True)

    id: int
    component: str
    severity: Literal["info", "warning", "critical"]
    state: Literal["firing", "acknowledged", "resolved"]
    dedupe_key: str
    title: str
    details: str
    occurrences: int
    acknowledged_by_id: int | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    last_seen_at: datetime
    created_at: datetime
