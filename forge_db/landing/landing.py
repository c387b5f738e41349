"""``db.landing``: the landing queue, code review, pull requests and conflicts.

jj changes ask to land on a bookmark (``requests``), wait in the bookmark's queue (``queues``),
are reviewed (``reviews``) and landed by workers one batch per bookmark at a time
(``workers``). Git-style pull requests (``pulls``) share the reviews and the numbering;
``conflicts`` are recorded per commit and keep a change from landing until resolved. The names
the forge's callers know are kept at the root as aliases of the operations of the parts.
"""

from __future__ import annotations

from ..query import Namespace, R, alias
from .conflicts import Conflicts
from .pulls import Pulls
from .queues import Queues
from .requests import Requests
from .reviews import Reviews
from .workers import Workers

__all__ = ["Landing"]


class Landing(Namespace[R]):
    """Landing; ``requests``, ``queues``, ``workers``, ``reviews``, ``pulls`` and ``conflicts``
    are its parts."""

    requests: Requests[R]
    queues: Queues[R]
    workers: Workers[R]
    reviews: Reviews[R]
    pulls: Pulls[R]
    conflicts: Conflicts[R]

    submit = alias(Requests.submit)
    get = alias(Requests.get)
    list = alias(Requests.list)
    cancel = alias(Requests.cancel)
    history = alias(Requests.history)
    queue = alias(Queues.entries)
    pause = alias(Queues.pause)
    resume = alias(Queues.resume)
    claim = alias(Workers.claim)
    renew = alias(Workers.renew)
    finish = alias(Workers.finish)
    requeue = alias(Workers.requeue)
    review = alias(Reviews.review)
    comment_line = alias(Reviews.comment_line)
    resolve_thread = alias(Reviews.resolve_thread)
    open_pull_request = alias(Pulls.open)
    record_conflicts = alias(Conflicts.record)
    resolve_conflict = alias(Conflicts.resolve)
