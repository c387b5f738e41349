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

    def __init__(self, runner: R) -> None:
        super().__init__(runner)
        self.reactions = Reactions(runner)
        self.notifications = Notifications(runner)
        self.stars = Stars(runner)
        self.watches = Watches(runner)
        self.messages = Messages(runner)
