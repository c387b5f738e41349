"""Collaboration (``db.collaboration``): ``reactions``, ``notifications`` and their fan-out,
``stars``, ``watches`` and direct ``messages``."""

from .collaboration import Collaboration
from .messages import Messages
from .models import EMOJI, Emoji, Message, Notification, StarredRepository, WatchLevel
from .notifications import Notifications
from .reactions import Reactions
from .stars import Stars
from .watches import Watches

__all__ = [
    "EMOJI",
    "Collaboration",
    "Emoji",
    "Message",
    "Messages",
    "Notification",
    "Notifications",
    "Reactions",
    "StarredRepository",
    "Stars",
    "WatchLevel",
    "Watches",
]
