"""jj (``db.jj``) and its parts: ``operations``, ``changes``, ``parts``, ``blobs``,
``workspaces``, ``file_trackers``, ``snapshots`` and ``locks``."""

from .blobs import Blobs
from .changes import Changes
from .file_trackers import FileTrackers
from .jj import Jj
from .locks import Locks
from .models import (
    Blob,
    BlobsStored,
    ChangeResolution,
    Commit,
    CommitRecord,
    FileState,
    GarbageCollected,
    Operation,
    OperationHeads,
    OperationRecord,
    Part,
    PartRecord,
    ShortPrefix,
    Snapshot,
    TrackedFile,
    Workspace,
    WorkspaceLock,
    WorkspaceState,
    WorkspaceTransition,
)
from .operations import Operations
from .parts import Parts
from .snapshots import Snapshots
from .workspaces import Workspaces

__all__ = [
    "Blob",
    "Blobs",
    "BlobsStored",
    "ChangeResolution",
    "Changes",
    "Commit",
    "CommitRecord",
    "FileState",
    "FileTrackers",
    "GarbageCollected",
    "Jj",
    "Locks",
    "Operation",
    "OperationHeads",
    "OperationRecord",
    "Operations",
    "Part",
    "PartRecord",
    "Parts",
    "ShortPrefix",
    "Snapshot",
    "Snapshots",
    "TrackedFile",
    "Workspace",
    "WorkspaceLock",
    "WorkspaceState",
    "WorkspaceTransition",
    "Workspaces",
]
