"""Models of the landing domain, and the input rules its operations share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict

from ..claims import Claimed
from ..inputs import Bounded, ListOf, Text

__all__ = [
    "ChangeId",
    "ClaimedRequest",
    "Conflict",
    "FilePath",
    "FilePaths",
    "LandingClaim",
    "LandingEvent",
    "LandingOutcome",
    "LandingQueue",
    "LandingRequest",
    "LineComment",
    "LineNumber",
    "MaxAttempts",
    "Priority",
    "PullRequest",
    "QueueEntry",
    "Reason",
    "Review",
    "ReviewKind",
    "ReviewSummary",
    "Side",
    "Sides",
]

ChangeId = Annotated[
    str, Text(32, pattern=r"[k-z]{32}", explain="must be 32 letters k-z", sample="k" * 32)
]
"""A jj change id: 32 letters of k-z, stable across rewrites of the change."""
Priority = Annotated[int, Bounded(-100, 100)]
"""Higher lands first; ties in submission order."""
MaxAttempts = Annotated[int, Bounded(1, 100)]
"""How many runs a request may take before it fails for good."""
Reason = Annotated[str, Text(1024, single_line=True, sample="")]
"""Why: a pause, a cancel, a requeue (one line, possibly empty)."""
_PATH_RULE = Text(4096, min_length=1, controls=False, sample="src/main.rs")
FilePath = Annotated[str, _PATH_RULE]
"""A path in the repository."""
FilePaths = Annotated[list[str], ListOf(_PATH_RULE, 1000, at_least=1)]
"""One to a thousand paths."""
LineNumber = Annotated[int, Bounded(1, 10_000_000)]
"""A 1-based line number."""
Sides = Annotated[int, Bounded(2, 64)]
"""Sides of a conflict (2 for an ordinary one)."""
Side = Literal["old", "new"]
ReviewKind = Literal["landing", "pull"]
"""What a review is of: a landing request or a pull request (one sequence numbers both)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class LandingRequest(_Frozen):
    """A jj change asking to land on a bookmark, and where it stands."""

    id: int
    repository_id: int
    number: int
    author_id: int | None
    author: str | None
    change_id: str
    commit_id: str | None
    target_bookmark: str
    title: str
    description: str
    priority: int
    never_batch: bool
    state: Literal["queued", "running", "landed", "failed", "cancelled"]
    state_reason: str | None
    attempts: int
    max_attempts: int
    batch_id: int | None
    claimed_by: str | None
    lease_expires_at: datetime | None
    landed_commit_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class QueueEntry(LandingRequest):
    """A waiting request, its position in its bookmark's queue (1 lands next) and readiness."""

    position: int
    ready: bool


class LandingQueue(_Frozen):
    """The queue of one bookmark: its state, why, and what it holds."""

    repository_id: int
    bookmark: str
    state: Literal["open", "paused", "draining"]
    reason: str
    changed_by: str | None
    queued: int
    running_batch_id: int | None
    updated_at: datetime | None


class ClaimedRequest(_Frozen):
    """A request of a claimed batch: what the worker lands."""

    id: int
    number: int
    change_id: str
    commit_id: str | None
    title: str
    priority: int
    attempts: int


class LandingClaim(Claimed):
    """A claimed batch: its claim (present ``fencing_token`` on every later write) and requests."""

    batch_id: int
    repository_id: int
    target_bookmark: str
    parent_id: int | None
    depth: int
    deadline_at: datetime
    taken_over: bool
    requests: list[ClaimedRequest]


class LandingOutcome(_Frozen):
    """What became of one request when its run ended."""

    landing_id: int
    number: int
    outcome: Literal["landed", "failed", "requeued", "bisected"]


class LandingEvent(_Frozen):
    """One transition of a request or queue, with who or what made it and why."""

    id: int
    repository_id: int
    target_bookmark: str
    number: int | None
    kind: str
    actor_id: int | None
    actor: str | None
    worker: str | None
    reason: str
    batch_id: int | None
    parent_batch_id: int | None
    batch_depth: int | None
    created_at: datetime


class Review(_Frozen):
    """A review of a landing request or pull request at a commit."""

    id: int
    repository_id: int
    kind: ReviewKind
    number: int
    reviewer_id: int | None
    reviewer: str | None
    state: Literal["pending", "commented", "approved", "changes_requested", "dismissed"]
    body: str
    commit_id: str | None
    stale: bool
    created_at: datetime
    updated_at: datetime


class LineComment(_Frozen):
    """A comment anchored on (commit, path, line, side), threaded by reply."""

    id: int
    repository_id: int
    kind: ReviewKind
    number: int
    review_id: int | None
    in_reply_to_id: int | None
    author_id: int | None
    author: str | None
    commit_id: str
    path: str
    line: int
    side: Side
    body: str
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReviewSummary(_Frozen):
    """Whether a request may land (or a pull request merge), and why: reviews, checks, conflicts."""

    repository_id: int
    kind: ReviewKind
    number: int
    commit_id: str | None
    protected: bool
    required_approvals: int
    approvals: int
    stale_approvals: int
    changes_requested: int
    required_contexts: list[str]
    passing_contexts: list[str]
    missing_contexts: list[str]
    unresolved_conflicts: int
    comments: int
    unresolved_threads: int
    ready: bool


class PullRequest(_Frozen):
    """A git-style pull request: head ref into base ref."""

    id: int
    repository_id: int
    number: int
    author_id: int | None
    author: str | None
    title: str
    body: str
    state: Literal["open", "closed", "merged"]
    draft: bool
    head_ref: str
    base_ref: str
    head_commit_id: str
    merge_commit_id: str | None
    merged_by: str | None
    merged_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Conflict(_Frozen):
    """A jj conflict at a path of a commit; resolved by a later commit of the same change."""

    id: int
    repository_id: int
    change_id: str
    commit_id: str
    path: str
    sides: int
    landing_number: int | None
    resolved_at: datetime | None
    resolved_commit_id: str | None
    created_at: datetime
