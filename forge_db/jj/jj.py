"""``db.jj``: what jj knows about a repository, kept by the forge.

The parts: ``operations`` (the operation log), ``changes`` (commits of changes), ``parts`` (the
paths each commit touches), ``blobs`` (file contents by SHA-256), ``workspaces`` (working
copies, their lifecycle and audit trail), ``file_trackers`` (a working copy's tracked files),
``snapshots`` (its snapshot history) and ``locks`` (TTL locks per workspace and operation, held
by agents). The names the forge's callers
know from the jj issue (``db.jj.record_operations``, ``db.jj.resolve_change``, ...) are aliases
of the parts' operations.
"""

from __future__ import annotations

from ..query import Namespace, R, alias
from .blobs import Blobs
from .changes import Changes
from .file_trackers import FileTrackers
from .locks import Locks
from .operations import Operations
from .parts import Parts
from .snapshots import Snapshots
from .workspaces import Workspaces

__all__ = ["Jj"]


class Jj(Namespace[R]):
    """jj operations, changes, content-addressed blobs and workspaces of repositories."""

    operations: Operations[R]
    changes: Changes[R]
    parts: Parts[R]
    blobs: Blobs[R]
    workspaces: Workspaces[R]
    file_trackers: FileTrackers[R]
    snapshots: Snapshots[R]
    locks: Locks[R]

    record_operations = alias(Operations.record)
    operation_heads = alias(Operations.heads)
    operation_log = alias(Operations.log)
    resolve_operation = alias(Operations.resolve)
    record_commits = alias(Changes.record)
    resolve_change = alias(Changes.resolve_change)
    resolve_commit = alias(Changes.resolve_commit)
    evolog = alias(Changes.evolog)
    shortest_prefixes = alias(Changes.shortest_prefixes)
    put_blob = alias(Blobs.put)
    put_blobs = alias(Blobs.put_many)
    get_blob = alias(Blobs.get)
    missing_blobs = alias(Blobs.missing)
    collect_garbage = alias(Blobs.collect_garbage)
    create_workspace = alias(Workspaces.create)
    get_workspace = alias(Workspaces.get)
    list_workspaces = alias(Workspaces.list)
    transition_workspace = alias(Workspaces.transition)
    workspace_history = alias(Workspaces.history)
    find_stale_workspaces = alias(Workspaces.find_stale)
    lock_workspace = alias(Locks.acquire)
    unlock_workspace = alias(Locks.release)
