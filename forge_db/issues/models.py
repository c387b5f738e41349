"""Models of the issues domain: issues, comments, labels, milestones, links."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CloseReason",
    "Comment",
    "CountDrift",
    "Issue",
    "IssueCounts",
    "IssueLinks",
    "IssueRef",
    "IssueSummary",
    "Label",
    "LabelRef",
    "Milestone",
    "SearchHit",
    "UserRef",
]

CloseReason = Literal["completed", "not_planned", "duplicate"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class LabelRef(_Frozen):
    """A label as shown on an issue."""

    id: int
    name: str
    color: str


class UserRef(_Frozen):
    """A user as shown on an issue."""

    id: int
    username: str


class IssueRef(_Frozen):
    """Another issue, by number and title (dependencies, subtasks, duplicates)."""

    id: int
    number: int
    title: str
    state: Literal["open", "closed"]


class IssueSummary(_Frozen):
    """An issue as a list shows it: everything but the body and reactions."""

    id: int
    repository_id: int
    number: int
    title: str
    state: Literal["open", "closed"]
    close_reason: CloseReason | None
    author_id: int | None
    author: str | None
    locked: bool
    comment_count: int
    milestone_id: int | None
    labels: list[LabelRef]
    assignees: list[UserRef]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class Issue(IssueSummary):
    """An issue with its body, its duplicate target and its reaction counts."""

    body: str
    duplicate_of: int | None = Field(description="number of the issue this one duplicates")
    edited_at: datetime | None
    reactions: dict[str, int]


class SearchHit(IssueSummary):
    """A search result: the issue and how well it matched."""

    rank: float


class Comment(_Frozen):
    """A comment; a deleted one is a tombstone with an empty body."""

    id: int
    repository_id: int
    issue_id: int
    author_id: int | None
    author: str | None
    body: str
    edited_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    reactions: dict[str, int]


class Label(_Frozen):
    """A repository's label."""

    id: int
    repository_id: int
    name: str
    color: str
    description: str
    created_at: datetime


class Milestone(_Frozen):
    """A milestone and its progress."""

    id: int
    repository_id: int
    title: str
    description: str
    state: Literal["open", "closed"]
    due_on: date | None
    closed_at: datetime | None
    open_issues: int
    closed_issues: int
    created_at: datetime


class IssueCounts(_Frozen):
    """Open and closed issues of a repository, kept by the database."""

    open: int
    closed: int


class CountDrift(_Frozen):
    """A repository whose stored counts differ from a recount."""

    repository_id: int
    stored_open: int
    stored_closed: int
    actual_open: int
    actual_closed: int


class IssueLinks(_Frozen):
    """An issue's dependencies and subtasks, both ways."""

    blocks: list[IssueRef]
    blocked_by: list[IssueRef]
    parent: IssueRef | None
    subtasks: list[IssueRef]
