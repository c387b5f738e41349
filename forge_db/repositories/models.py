"""Models of the repositories domain: repositories, collaborators, bookmarks, branches, rules."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from ..access import Role

__all__ = [
    "Bookmark",
    "Branch",
    "Collaborator",
    "CombinedStatus",
    "CommitStatus",
    "ProtectionRule",
    "Repository",
    "Role",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Repository(_Frozen):
    """A repository as a viewer sees it, with the viewer's role (anyone reads a public one)."""

    id: int
    owner_id: int
    owner: str
    name: str
    description: str
    private: bool
    archived: bool
    default_bookmark: str
    created_at: datetime
    updated_at: datetime
    viewer_role: Role

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"


class Collaborator(_Frozen):
    """A user's role on a repository."""

    repository_id: int
    user_id: int
    username: str
    role: Role
    created_at: datetime


class Bookmark(_Frozen):
    """A jj bookmark: one target, or several when conflicted."""

    id: int
    repository_id: int
    name: str
    targets: list[str]
    conflicted: bool
    updated_at: datetime


class Branch(_Frozen):
    """A git branch of the repository's git backend."""

    id: int
    repository_id: int
    name: str
    commit_id: str
    updated_at: datetime


class ProtectionRule(_Frozen):
    """Landing rules for bookmarks whose names match ``pattern``."""

    id: int
    repository_id: int
    pattern: str
    required_approvals: int
    required_status_contexts: list[str]
    land_min_role: Literal["write", "admin"]
    dismiss_stale_approvals: bool
    created_at: datetime
    updated_at: datetime


class CommitStatus(_Frozen):
    """A status a CI system reported for one context of a commit (the latest, or a past one)."""

    id: UUID
    repository_id: int
    commit_id: str
    context: str
    state: Literal["pending", "success", "failure", "error"]
    description: str
    target_url: str | None
    creator_id: int | None
    created_at: datetime


class CombinedStatus(_Frozen):
    """GitHub's combined status of a commit: ``failure`` if any context failed or erred, else
    ``pending`` if any is pending (or none reported), else ``success``; with the contexts a
    bookmark's protection rules require and which of those have not reported at all."""

    commit_id: str
    state: Literal["pending", "success", "failure"]
    total_count: int
    statuses: list[CommitStatus]
    required_contexts: list[str]
    missing_contexts: list[str]
