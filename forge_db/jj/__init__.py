"""jj (``db.jj``) and its parts: ``operations``, ``changes``, ``blobs``, ``workspaces`` and
``locks``."""

from .blobs import Blobs
from .changes import Changes
from .jj import Jj
from .locks import Locks
from .models import (
    Blob,
    BlobsStored,
    ChangeResolution,
    Commit,
    CommitRecord,
    GarbageCollected,
    Operation,
    OperationHeads,
    OperationRecord,
    ShortPrefix,
    Workspace,
    WorkspaceLock,
    WorkspaceState,
    WorkspaceTransition,
)
from .operations import Operations
from .workspaces import Workspaces

__all__ = [
    "Blob",
    "Blobs",
    "BlobsStored",
    "ChangeResolution",
    "Changes",
    "Commit",
    "CommitRecord",
    "GarbageCollected",
    "Jj",
    "Locks",
    "Operation",
    "OperationHeads",
    "OperationRecord",
    "Operations",
    "ShortPrefix",
    "Workspace",
    "WorkspaceLock",
    "WorkspaceState",
    "WorkspaceTransition",
    "Workspaces",
]
