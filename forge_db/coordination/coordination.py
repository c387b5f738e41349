"""``db.coordination``: what agents, runners and services coordinate through, one part each."""

from __future__ import annotations

from ..query import Namespace, R
from .alerts import Alerts
from .config import Config
from .decisions import Decisions
from .events import Events
from .health import Health
from .leases import Leases
from .limits import Limits

__all__ = ["Coordination"]


class Coordination(Namespace[R]):
    """``events``, ``leases``, ``decisions``, rate ``limits``, ``config``, ``health``, ``alerts``."""

    events: Events[R]
    leases: Leases[R]
    decisions: Decisions[R]
    limits: Limits[R]
    config: Config[R]
    health: Health[R]
    alerts: Alerts[R]
