"""Landing (``db.landing``) and its parts: ``requests``, ``queues``, ``workers``, ``reviews``,
``pulls`` and ``conflicts``."""

from .conflicts import Conflicts
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
from .pulls import Pulls
from .queues import Queues
from .requests import Requests
from .reviews import Reviews
from .workers import Workers

__all__ = [
    "ClaimedRequest",
    "Conflict",
    "Conflicts",
    "Landing",
    "LandingClaim",
    "LandingEvent",
    "LandingOutcome",
    "LandingQueue",
    "LandingRequest",
    "LineComment",
    "PullRequest",
    "Pulls",
    "QueueEntry",
    "Queues",
    "Requests",
    "Review",
    "ReviewSummary",
    "Reviews",
    "Workers",
]
