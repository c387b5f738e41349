"""``db.collaboration``: what people do around repositories, one namespace per kind."""

from __future__ import annotations

from ..query import Namespace, R
from .messages import Messages
from .notifications import Notifications
from .reactions import Reactions
from .stars import Stars
from .watches import Watches

__all__ = ["Collaboration"]


class Collaboration(Namespace[R]):
    """``reactions``, ``notifications``, ``stars``, ``watches`` and direct ``messages``."""

    reactions: Reactions[R]
    notifications: Notifications[R]
    stars: Stars[R]
    watches: Watches[R]
    messages: Messages[R]
