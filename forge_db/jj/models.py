"""The jj domain's models: records callers send in bulk, and rows as callers see them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..inputs import AwareTime, Bounded, CommitId, ListOf, Refused, Rule, Text
from .ids import MAX_BATCH, OPERATION_RULE, BlobHash, ChangeId, OperationId, RepoPath

__all__ = [
    "Blob",
    "BlobsStored",
    "ChangeResolution",
    "Commit",
    "CommitRecord",
    "CommitRecords",
    "FileState",
    "FileStates",
    "FileType",
    "GarbageCollected",
    "Operation",
    "OperationHeads",
    "OperationRecord",
    "OperationRecords",
    "Part",
    "PartRecord",
    "PartRecords",
    "PartStatus",
    "ShortPrefix",
    "Snapshot",
    "TrackedFile",
    "Workspace",
    "WorkspaceLock",
    "WorkspaceState",
    "WorkspaceTransition",
]

Signature = Annotated[str, Text(255, sample="")]
Long = Annotated[str, Text(1_048_576, sample="")]
OperationIdList = Annotated[list[str], ListOf(OPERATION_RULE, 64, repeats=False)]
CommitIdList = Annotated[
    list[str], ListOf(Text(40, pattern=r"[0-9a-f]{40}", sample="a" * 40), 64, repeats=False)
]
Tags = dict[Annotated[str, Text(255, sample="k")], Annotated[str, Text(4096, sample="")]]
WorkspaceState = Literal["provisioning", "active", "stale", "archived"]
PartStatus = Literal["added", "modified", "deleted", "renamed", "copied", "conflicted"]
FileType = Literal["normal", "executable", "symlink", "conflict", "git_submodule"]
LineCount = Annotated[int, Bounded(0, 2_147_483_647)]
Size = Annotated[int, Bounded(0, 9_223_372_036_854_775_807)]


class OperationRecord(BaseModel):
    """One jj operation to record: its id, parents, view and metadata (jj's op store)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation_id: OperationId
    parent_operation_ids: OperationIdList = Field(default_factory=list)
    view_id: OperationId
    view: dict[str, Any] = Field(default_factory=dict)
    description: Long = ""
    hostname: Signature = ""
    username: Signature = ""
    tags: Tags = Field(default_factory=dict)
    is_snapshot: bool = False
    started_at: AwareTime
    ended_at: AwareTime


class Operation(BaseModel):
    """A stored jj operation."""

    model_config = ConfigDict(frozen=True)

    operation_id: str
    parent_operation_ids: list[str]
    view_id: str
    view: dict[str, Any]
    description: str
    hostname: str
    username: str
    tags: dict[str, str]
    is_snapshot: bool
    started_at: datetime
    ended_at: datetime
    created_at: datetime

    @property
    def id(self) -> str:
        """The operation's id (``operation_id``): what identifies it in jj."""
        return self.operation_id


class OperationHeads(BaseModel):
    """The operations without children; several are concurrent operations to merge."""

    model_config = ConfigDict(frozen=True)

    heads: list[Operation]
    concurrent: bool  # more than one head: jj merges them on its next command


class CommitRecord(BaseModel):
    """One commit to record: change, parents, signatures, predecessors and flags."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    change_id: ChangeId
    commit_id: CommitId
    parent_commit_ids: CommitIdList = Field(default_factory=list)
    predecessor_commit_ids: CommitIdList = Field(default_factory=list)
    author_name: Signature = ""
    author_email: Signature = ""
    committer_name: Signature = ""
    committer_email: Signature = ""
    description: Long = ""
    authored_at: AwareTime
    committed_at: AwareTime
    empty: bool = False
    conflict: bool = False
    hidden: bool = False


class Commit(BaseModel):
    """A stored commit of a change."""

    model_config = ConfigDict(frozen=True)

    change_id: str
    commit_id: str
    parent_commit_ids: list[str]
    predecessor_commit_ids: list[str]
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str
    description: str
    authored_at: datetime
    committed_at: datetime
    empty: bool
    conflict: bool
    hidden: bool


class ChangeResolution(BaseModel):
    """What a change id (or its prefix) names: its visible commits, or its hidden ones.

    ``divergent`` is jj's ``??``: several visible commits share the change id. ``hidden``: no
    commit of the change is visible any more (abandoned, or rewritten into another change);
    ``commits`` then lists the hidden ones, newest first.
    """

    model_config = ConfigDict(frozen=True)

    change_id: str
    commits: list[Commit]
    divergent: bool
    hidden: bool


class ShortPrefix(BaseModel):
    """An id and the length of its shortest unique prefix (what ``jj log`` highlights)."""

    model_config = ConfigDict(frozen=True)

    id: str
    length: int

    @property
    def prefix(self) -> str:
        """The highlighted part of the id."""
        return self.id[: self.length]


class Blob(BaseModel):
    """A file's content, addressed by its SHA-256."""

    model_config = ConfigDict(frozen=True)

    algorithm: Literal["sha256"] = "sha256"
    hash: str
    size: int
    content: bytes


class BlobsStored(BaseModel):
    """What a put stored: every hash in the order given, and how many blobs were new."""

    model_config = ConfigDict(frozen=True)

    algorithm: Literal["sha256"] = "sha256"
    hashes: list[str]
    created: int


class GarbageCollected(BaseModel):
    """What one garbage-collection batch removed; call again while it removes anything."""

    model_config = ConfigDict(frozen=True)

    links_deleted: int
    blobs_deleted: int
    bytes_freed: int


class Workspace(BaseModel):
    """A jj workspace (a working copy) of a repository."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    short_id: str  # the id's shortest unique prefix in the repository, 8 characters at least
    repository_id: int
    user_id: int
    agent_id: uuid.UUID | None
    name: str
    state: str
    host: str | None
    path: str | None
    working_copy_commit_id: str | None
    last_operation_id: str | None
    last_synced_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WorkspaceTransition(BaseModel):
    """One entry of a workspace's audit trail: a state it entered, who, which agent, why."""

    model_config = ConfigDict(frozen=True)

    id: int
    workspace_id: uuid.UUID
    from_state: str | None
    to_state: str
    actor_id: int | None
    agent_id: uuid.UUID | None
    reason: str
    created_at: datetime


class WorkspaceLock(BaseModel):
    """A TTL lock on (workspace, operation), held by an agent: the lease's state after a try."""

    model_config = ConfigDict(frozen=True)

    workspace_id: uuid.UUID
    operation: str
    holder: str
    fencing_token: int
    expires_at: datetime
    acquired: bool  # false: another agent holds it (``holder``) until ``expires_at``


class PartRecord(BaseModel):
    """One path a commit touches: how, the blobs before and after, and the line counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commit_id: CommitId
    path: RepoPath
    status: PartStatus
    old_path: RepoPath | None = None  # the source of a rename or copy, and only of those
    old_blob_hash: BlobHash | None = None  # content before (none for an added file)
    new_blob_hash: BlobHash | None = None  # content after (none for a deleted file)
    additions: LineCount = 0
    deletions: LineCount = 0

    @model_validator(mode="after")
    def _consistent(self) -> PartRecord:
        if (self.status in ("renamed", "copied")) != (self.old_path is not None):
            raise ValueError("old_path: set exactly for a renamed or copied file")
        if self.status == "added" and self.old_blob_hash is not None:
            raise ValueError("old_blob_hash: an added file has no content before")
        if self.status == "deleted" and self.new_blob_hash is not None:
            raise ValueError("new_blob_hash: a deleted file has no content after")
        return self


class Part(BaseModel):
    """A stored part of a commit: one path it touches."""

    model_config = ConfigDict(frozen=True)

    commit_id: str
    change_id: str
    path: str
    status: str
    old_path: str | None
    old_blob_hash: str | None
    new_blob_hash: str | None
    additions: int
    deletions: int
    committed_at: datetime
    created_at: datetime


class FileState(BaseModel):
    """A tracked file of a working copy as a snapshot saw it (jj's tree state entry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: RepoPath
    file_type: FileType = "normal"
    size: Size = 0
    mtime: AwareTime | None = None
    blob_hash: BlobHash | None = None  # the content last snapshotted, once uploaded


class TrackedFile(BaseModel):
    """A stored tracked file of a workspace."""

    model_config = ConfigDict(frozen=True)

    path: str
    file_type: str
    size: int
    mtime: datetime | None
    blob_hash: str | None
    created_at: datetime
    updated_at: datetime


class Snapshot(BaseModel):
    """One working-copy snapshot of a workspace: its operation and working-copy commit."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    workspace_id: uuid.UUID
    operation_id: str
    working_copy_commit_id: str
    files_changed: int
    duration_ms: int | None
    created_at: datetime


class Records(Rule):
    """A list of up to ``limit`` records, each an instance of ``model`` (validated when made)."""

    def __init__(self, model: type[BaseModel], limit: int, sample: BaseModel) -> None:
        self.model, self.limit = model, limit
        self.sample = [sample]

    def check(self, value: Any) -> list[Any]:
        if type(value) not in (list, tuple):
            raise Refused(f"must be a list of {self.model.__name__}")
        if len(value) > self.limit:
            raise Refused(f"holds more than {self.limit} records")
        model = self.model
        for index, item in enumerate(value):
            if type(item) is not model:
                raise Refused(f"must be a {model.__name__}", f"[{index}]")
        return list(value)


_SAMPLE_TIME = datetime(2026, 1, 1).astimezone()
OperationRecords = Annotated[
    list[OperationRecord],
    Records(
        OperationRecord,
        MAX_BATCH,
        OperationRecord(
            operation_id="a" * 128,
            view_id="b" * 128,
            started_at=_SAMPLE_TIME,
            ended_at=_SAMPLE_TIME,
        ),
    ),
]
"""Up to 100,000 operations (parents before or with their children)."""
CommitRecords = Annotated[
    list[CommitRecord],
    Records(
        CommitRecord,
        MAX_BATCH,
        CommitRecord(
            change_id="k" * 32,
            commit_id="a" * 40,
            authored_at=_SAMPLE_TIME,
            committed_at=_SAMPLE_TIME,
        ),
    ),
]
"""Up to 100,000 commits."""
PartRecords = Annotated[
    list[PartRecord],
    Records(PartRecord, MAX_BATCH, PartRecord(commit_id="a" * 40, path="README", status="added")),
]
"""Up to 100,000 parts, of one commit or many."""
FileStates = Annotated[list[FileState], Records(FileState, MAX_BATCH, FileState(path="README"))]
"""Up to 100,000 tracked files."""
