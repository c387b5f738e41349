"""Coordination (``db.coordination``): the event bus, leases and deadlock detection, human
decisions, rate limits, typed configuration with secrets, component health and alerts."""

from .alerts import Alerts
from .config import Config
from .coordination import Coordination
from .decisions import Decisions
from .events import Events
from .health import Health
from .leases import Leases
from .limits import Limits
from .models import (
    Alert,
    ComponentStatus,
    ConfigValue,
    Deadlock,
    Decision,
    Delivery,
    Event,
    Lease,
    LeaseGrant,
    RateLimit,
    SecretValue,
    Subscription,
    Wait,
)

__all__ = [
    "Alert",
    "Alerts",
    "ComponentStatus",
    "Config",
    "ConfigValue",
    "Coordination",
    "Deadlock",
    "Decision",
    "Decisions",
    "Delivery",
    "Event",
    "Events",
    "Health",
    "Lease",
    "LeaseGrant",
    "Leases",
    "Limits",
    "RateLimit",
    "SecretValue",
    "Subscription",
    "Wait",
]
