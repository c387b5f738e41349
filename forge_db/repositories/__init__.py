"""Repositories (``db.repositories``) and what hangs off them: ``collaborators``,
``bookmarks``, ``branches`` and ``protection`` rules."""

from .bookmarks import Bookmarks
from .branches import Branches
from .collaborators import Collaborators
from .models import Bookmark, Branch, Collaborator, ProtectionRule, Repository, Role
from .protection import Protection
from .repositories import Repositories

__all__ = [
    "Bookmark",
    "Bookmarks",
    "Branch",
    "Branches",
    "Collaborator",
    "Collaborators",
    "Protection",
    "ProtectionRule",
    "Repositories",
    "Repository",
    "Role",
]
