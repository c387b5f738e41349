"""Repositories (``db.repositories``) and what hangs off them: ``collaborators``,
``bookmarks``, ``branches``, ``protection`` rules and commit ``statuses``."""

from .bookmarks import Bookmarks
from .branches import Branches
from .collaborators import Collaborators
from .models import (
    Bookmark,
    Branch,
    Collaborator,
    CombinedStatus,
    CommitStatus,
    ProtectionRule,
    Repository,
    Role,
)
from .protection import Protection
from .repositories import Repositories
from .statuses import Statuses

__all__ = [
    "Bookmark",
    "Bookmarks",
    "Branch",
    "Branches",
    "Collaborator",
    "Collaborators",
    "CombinedStatus",
    "CommitStatus",
    "Protection",
    "ProtectionRule",
    "Repositories",
    "Repository",
    "Role",
    "Statuses",
]
