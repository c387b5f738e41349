"""Landing (``db.landing``) and its parts: ``requests``, ``queues``, ``workers``, ``reviews``,
``pulls`` and ``conflicts``."""

from .landing import Landing
from .models import (
    ClaimedRequest,
    Conflict,
    LandingClaim,
    LandingEvent,
    LandingOutcome,
    LandingQueue,
    LandingRequest,
    LineComment,
    PullRequest,
    QueueEntry,
    Review,
    ReviewSummary,
)
from .queues import Queues
from .requests import Requests
from .workers import Workers

__all__ = [
    "ClaimedRequest",
    "Conflict",
    "Landing",
    "LandingClaim",
    "LandingEvent",
    "LandingOutcome",
    "LandingQueue",
    "LandingRequest",
    "LineComment",
    "PullRequest",
    "QueueEntry",
    "Queues",
    "Requests",
    "Review",
    "ReviewSummary",
    "Workers",
]
