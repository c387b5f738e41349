"""No operation lets a stranger reach, or touch, a private repository; roles are enforced.

One world holds a private repository, every text of which contains "secret", and a public
repository owned by a stranger, none of whose texts do. Then:

- every read, for a stranger and for an anonymous viewer, is ``NotFound`` or reveals no
  "secret"; for a reader it reveals exactly what the reader may see;
- every read is also tried with the public repository's id and a private child's id (a
  comment, an issue number, a bookmark): nothing private comes back;
- every write is ``NotFound`` for a stranger (never ``PermissionDenied``, which would reveal
  that the repository exists), ``PermissionDenied`` for a role below the one it needs, and
  changes nothing in either case; the role it needs succeeds;
- every write with a child id is tried with the stranger's own public repository and a private
  child: ``NotFound``, nothing changed.

Every operation is classified here, so a new one cannot be added without saying how it treats
privacy.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.jj import CommitRecord, FileState, OperationRecord, PartRecord
from forge_db.pagination import Page

from . import privacy_workflows
from .operations import OPERATIONS

W = dict[str, Any]


@pytest.fixture
def world(fdb: ForgeDB) -> W:
    owner, reader, writer, stranger = (make_user(fdb, p) for p in ("own", "rdr", "wrt", "str"))
    private = make_repository(fdb, owner, private=True, description="secret work")
    public = fdb.repositories.create(owner_id=stranger.id, name="open-work", description="open")
    repos = fdb.repositories
    repos.collaborators.set(private.id, actor_id=owner.id, user_id=reader.id, role="read")
    repos.collaborators.set(private.id, actor_id=owner.id, user_id=writer.id, role="write")
    repos.bookmarks.set(private.id, actor_id=owner.id, name="secret-old", targets="a" * 40)
    repos.bookmarks.rename(
        private.id, actor_id=owner.id, old_name="secret-old", new_name="secret-main"
    )
    repos.branches.set(private.id, actor_id=owner.id, name="secret-branch", commit_id="b" * 40)
    repos.protection.set(private.id, actor_id=owner.id, pattern="secret-*", required_approvals=1)
    repos.statuses.set(
        private.id,
        actor_id=owner.id,
        commit_id="a" * 40,
        context="secret-ci",
        state="success",
        description="secret build",
    )
    issues = fdb.issues
    label = issues.labels.create(private.id, actor_id=owner.id, name="secret-label")
    milestone = issues.milestones.create(private.id, actor_id=owner.id, title="secret milestone")
    issues.create(
        private.id,
        actor_id=owner.id,
        title="secret plan",
        body=f"secret body @{reader.username} @{stranger.username}",
        labels=["secret-label"],
        milestone_id=milestone.id,
    )
    issues.create(private.id, actor_id=reader.id, title="secret two", body="secret")
    issues.links.add_dependency(private.id, actor_id=owner.id, blocking=1, blocked=2)
    issues.pins.add(private.id, 1, actor_id=owner.id)
    comment = issues.comments.create(private.id, 1, actor_id=writer.id, body="secret reply")
    fdb.collaboration.reactions.toggle(private.id, actor_id=writer.id, emoji="eyes", issue_number=1)
    fdb.collaboration.stars.toggle(private.id, actor_id=owner.id)
    fdb.collaboration.watches.set(private.id, actor_id=writer.id, level="watching")
    public_label = issues.labels.create(public.id, actor_id=stranger.id, name="open-label")
    public_milestone = issues.milestones.create(public.id, actor_id=stranger.id, title="open")
    issues.create(public.id, actor_id=stranger.id, title="open issue", body="open")
    public_comment = issues.comments.create(public.id, 1, actor_id=stranger.id, body="open reply")
    jj = _jj_world(fdb, owner.id, private.id)
    landing = _landing_world(fdb, owner, reader, writer, private)
    world = {
        **jj,
        **landing,
        "owner": owner,
        "reader": reader,
        "writer": writer,
        "stranger": stranger,
        "private": private,
        "public": public,
        "label": label,
        "milestone": milestone,
        "comment": comment,
        "public_label": public_label,
        "public_milestone": public_milestone,
        "public_comment": public_comment,
    }
    privacy_workflows.populate(fdb, world)
    return world


def _jj_world(fdb: ForgeDB, owner_id: int, private_id: int) -> W:
    """jj data of the private repository, each with a "secret" in it."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    operation = OperationRecord(
        operation_id=secrets.token_hex(64),
        view_id="b" * 128,
        description="secret op",
        started_at=moment,
        ended_at=moment,
    )
    fdb.jj.record_operations(private_id, [operation], actor_id=owner_id)
    commit = CommitRecord(
        change_id="k" * 32,
        commit_id=secrets.token_hex(20),
        description="secret commit",
        authored_at=moment,
        committed_at=moment,
    )
    fdb.jj.record_commits(private_id, [commit], actor_id=owner_id)
    blob = fdb.jj.put_blob(private_id, b"secret blob", actor_id=owner_id)
    agent = uuid.uuid4()
    workspace = fdb.jj.create_workspace(
        private_id, actor_id=owner_id, name="secret-ws", agent_id=agent, reason="secret reason"
    )
    lock = fdb.jj.lock_workspace(
        private_id, workspace.id, actor_id=owner_id, agent_id=agent, operation="sync"
    )
    part = PartRecord(
        commit_id=commit.commit_id, path="secret.txt", status="added", new_blob_hash=blob.hashes[0]
    )
    fdb.jj.parts.record(private_id, [part], actor_id=owner_id)
    fdb.jj.file_trackers.set(
        private_id,
        workspace.id,
        actor_id=owner_id,
        files=[FileState(path="secret/file", size=11, blob_hash=blob.hashes[0])],
    )
    fdb.jj.snapshots.record(
        private_id,
        workspace.id,
        actor_id=owner_id,
        operation_id=operation.operation_id,
        working_copy_commit_id=commit.commit_id,
    )
    return {
        "operation": operation,
        "commit": commit,
        "blob": blob.hashes[0],
        "agent": agent,
        "workspace": workspace,
        "lock": lock,
    }


def _landing_world(fdb: ForgeDB, owner: Any, reader: Any, writer: Any, private: Any) -> W:
    """Landing requests #3 and #4, pull requests #5 (open) and #6 (closed), reviews, a line
    comment, a draft and a conflict, all in the private repository."""
    fdb.repositories.protection.set(
        private.id,
        actor_id=owner.id,
        pattern="secret-*",
        required_approvals=1,
        required_status_contexts=["secret-ci"],
    )
    landing = fdb.landing
    request = landing.submit(
        private.id,
        actor_id=owner.id,
        change_id="k" * 32,
        commit_id="e" * 40,
        bookmark="secret-main",
        title="secret landing",
    )
    landing.submit(
        private.id,
        actor_id=owner.id,
        change_id="l" * 32,
        commit_id="f" * 40,
        bookmark="secret-main",
        title="secret second landing",
    )
    review = landing.review(
        private.id, 3, actor_id=writer.id, state="approved", body="secret approval"
    )
    line = landing.comment_line(
        private.id, 3, actor_id=owner.id, path="secret.rs", line=1, body="secret line"
    )
    for title in ("secret pull", "secret closed"):
        landing.pulls.open(
            private.id,
            actor_id=owner.id,
            title=title,
            head_ref="secret-feature",
            base_ref="secret-main",
            head_commit_id="e" * 40,
        )
    landing.pulls.close(private.id, 6, actor_id=owner.id)
    draft = landing.review(
        private.id, 5, actor_id=writer.id, state="pending", kind="pull", body="secret draft"
    )
    landing.review(
        private.id, 5, actor_id=reader.id, state="commented", kind="pull", body="secret remark"
    )
    landing.record_conflicts(
        private.id,
        actor_id=owner.id,
        change_id="k" * 32,
        commit_id="e" * 40,
        paths=["secret/file"],
    )
    return {
        "landing_change": request.change_id,
        "landing_review": review,
        "line_comment": line,
        "draft": draft,
    }


def _text(result: Any) -> str:
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    if isinstance(result, list | tuple):
        return " ".join(_text(item) for item in result)
    return str(result)


def _reveals(result: Any) -> bool:
    return "secret" in _text(result)


# --- reads -----------------------------------------------------------------------------------

Read = Callable[[ForgeDB, W, int | None, Any], Any]


@dataclass(frozen=True)
class ReadSpec:
    """How to call a read: ``repo`` is the repository whose id is passed (the private one, or
    the public one with private children), and what a reader of the private one must see."""

    call: Read
    reader_sees: Callable[[Any], bool] = _reveals
    viewer_required: bool = False
    scoped: bool = True  # takes a repository id (else it lists across repositories)
    leaks: Callable[[Any], bool] = _reveals


def _page(result: Any) -> Any:
    return result.items if isinstance(result, Page) else result


READS: dict[str, ReadSpec] = {
    "db.repositories.get": ReadSpec(
        lambda db, w, v, repo: db.repositories.get(
            w["owner"].username if repo is w["private"] else w["stranger"].username,
            w["private"].name,
            viewer_id=v,
        ),
        scoped=False,
    ),
    "db.repositories.get_by_id": ReadSpec(
        lambda db, w, v, repo: db.repositories.get_by_id(repo.id, viewer_id=v)
    ),
    "db.repositories.list_for_owner": ReadSpec(
        lambda db, w, v, repo: (
            db.repositories.list_for_owner(w["owner"].username, viewer_id=v).items
        ),
        scoped=False,
    ),
    "db.repositories.list_for_viewer": ReadSpec(
        lambda db, w, v, repo: db.repositories.list_for_viewer(viewer_id=v).items,  # type: ignore[arg-type]
        viewer_required=True,
        scoped=False,
    ),
    "db.repositories.list_public": ReadSpec(
        lambda db, w, v, repo: db.repositories.list_public(viewer_id=v).items,
        reader_sees=lambda r: not _reveals(r) and "open-work" in _text(r),
        scoped=False,
    ),
    "db.repositories.collaborators.list": ReadSpec(
        lambda db, w, v, repo: db.repositories.collaborators.list(repo.id, viewer_id=v),
        reader_sees=lambda r: len(r) == 2,
    ),
    "db.repositories.bookmarks.get": ReadSpec(
        lambda db, w, v, repo: db.repositories.bookmarks.get(repo.id, "secret-main", viewer_id=v)
    ),
    "db.repositories.bookmarks.list": ReadSpec(
        lambda db, w, v, repo: db.repositories.bookmarks.list(repo.id, viewer_id=v)
    ),
    "db.repositories.bookmarks.resolve": ReadSpec(
        lambda db, w, v, repo: db.repositories.bookmarks.resolve(
            repo.id, "secret-old", viewer_id=v
        ),
        reader_sees=lambda r: r == "secret-main",
        leaks=lambda r: r == "secret-main",  # an unknown name resolves to itself
    ),
    "db.repositories.branches.list": ReadSpec(
        lambda db, w, v, repo: db.repositories.branches.list(repo.id, viewer_id=v)
    ),
    "db.repositories.protection.list": ReadSpec(
        lambda db, w, v, repo: db.repositories.protection.list(repo.id, viewer_id=v)
    ),
    "db.repositories.protection.for_bookmark": ReadSpec(
        lambda db, w, v, repo: db.repositories.protection.for_bookmark(
            repo.id, "secret-main", viewer_id=v
        )
    ),
    "db.repositories.statuses.list": ReadSpec(
        lambda db, w, v, repo: db.repositories.statuses.list(repo.id, "a" * 40, viewer_id=v)
    ),
    "db.repositories.statuses.history": ReadSpec(
        lambda db, w, v, repo: db.repositories.statuses.history(repo.id, "a" * 40, viewer_id=v)
    ),
    "db.repositories.statuses.combined": ReadSpec(
        lambda db, w, v, repo: db.repositories.statuses.combined(
            repo.id, "a" * 40, bookmark="secret-main", viewer_id=v
        )
    ),
    "db.issues.get": ReadSpec(lambda db, w, v, repo: db.issues.get(repo.id, 2, viewer_id=v)),
    "db.issues.list": ReadSpec(
        lambda db, w, v, repo: db.issues.list(repo.id, viewer_id=v, state="all").items
    ),
    "db.issues.search": ReadSpec(
        lambda db, w, v, repo: db.issues.search(repo.id, "secret", viewer_id=v).items
    ),
    "db.issues.counts": ReadSpec(
        lambda db, w, v, repo: db.issues.counts(repo.id, viewer_id=v),
        reader_sees=lambda r: r.open == 2,
    ),
    "db.issues.comments.list": ReadSpec(
        lambda db, w, v, repo: db.issues.comments.list(repo.id, 1, viewer_id=v).items
    ),
    "db.issues.comments.get": ReadSpec(
        lambda db, w, v, repo: db.issues.comments.get(repo.id, w["comment"].id, viewer_id=v)
    ),
    "db.issues.labels.list": ReadSpec(
        lambda db, w, v, repo: db.issues.labels.list(repo.id, viewer_id=v)
    ),
    "db.issues.milestones.list": ReadSpec(
        lambda db, w, v, repo: db.issues.milestones.list(repo.id, viewer_id=v)
    ),
    "db.issues.links.get": ReadSpec(
        lambda db, w, v, repo: db.issues.links.get(repo.id, 2, viewer_id=v)
    ),
    "db.issues.pins.list": ReadSpec(
        lambda db, w, v, repo: db.issues.pins.list(repo.id, viewer_id=v)
    ),
    "db.collaboration.notifications.list": ReadSpec(
        lambda db, w, v, repo: db.collaboration.notifications.list(viewer_id=v).items,  # type: ignore[arg-type]
        viewer_required=True,
        scoped=False,
    ),
    "db.collaboration.notifications.unread_count": ReadSpec(
        lambda db, w, v, repo: db.collaboration.notifications.unread_count(viewer_id=v),  # type: ignore[arg-type]
        reader_sees=lambda r: r >= 1,
        viewer_required=True,
        scoped=False,
    ),
    "db.collaboration.stars.count": ReadSpec(
        lambda db, w, v, repo: db.collaboration.stars.count(repo.id, viewer_id=v),
        reader_sees=lambda r: r == 1,
    ),
    "db.collaboration.stars.list": ReadSpec(
        lambda db, w, v, repo: db.collaboration.stars.list(w["owner"].id, viewer_id=v).items,
        scoped=False,
    ),
    "db.jj.operations.heads": ReadSpec(
        lambda db, w, v, repo: db.jj.operation_heads(repo.id, viewer_id=v).heads
    ),
    "db.jj.operations.log": ReadSpec(
        lambda db, w, v, repo: db.jj.operation_log(repo.id, viewer_id=v).items
    ),
    "db.jj.operations.resolve": ReadSpec(
        lambda db, w, v, repo: db.jj.resolve_operation(
            repo.id, w["operation"].operation_id[:8], viewer_id=v
        )
    ),
    "db.jj.operations.shortest_prefixes": ReadSpec(
        lambda db, w, v, repo: db.jj.operations.shortest_prefixes(
            repo.id, [w["operation"].operation_id], viewer_id=v
        ),
        reader_sees=lambda r: len(r) == 1,
    ),
    "db.jj.changes.resolve_change": ReadSpec(
        lambda db, w, v, repo: db.jj.resolve_change(repo.id, "kkkk", viewer_id=v)
    ),
    "db.jj.changes.resolve_commit": ReadSpec(
        lambda db, w, v, repo: db.jj.resolve_commit(repo.id, w["commit"].commit_id[:8], viewer_id=v)
    ),
    "db.jj.changes.evolog": ReadSpec(
        lambda db, w, v, repo: db.jj.evolog(repo.id, w["commit"].commit_id, viewer_id=v)
    ),
    "db.jj.changes.shortest_prefixes": ReadSpec(
        lambda db, w, v, repo: db.jj.shortest_prefixes(
            repo.id, [w["commit"].commit_id], viewer_id=v
        ),
        reader_sees=lambda r: len(r) == 1,
    ),
    "db.jj.blobs.get": ReadSpec(
        lambda db, w, v, repo: db.jj.get_blob(repo.id, w["blob"], viewer_id=v)
    ),
    "db.jj.blobs.missing": ReadSpec(
        lambda db, w, v, repo: db.jj.missing_blobs(repo.id, [w["blob"], "0" * 64], viewer_id=v),
        reader_sees=lambda r: r == ["0" * 64],
    ),
    "db.jj.parts.list": ReadSpec(
        lambda db, w, v, repo: db.jj.parts.list(repo.id, w["commit"].commit_id, viewer_id=v).items
    ),
    "db.jj.parts.history": ReadSpec(
        lambda db, w, v, repo: db.jj.parts.history(repo.id, "secret.txt", viewer_id=v).items
    ),
    "db.jj.file_trackers.list": ReadSpec(
        lambda db, w, v, repo: (
            db.jj.file_trackers.list(repo.id, w["workspace"].id, viewer_id=v).items
        )
    ),
    "db.jj.file_trackers.changed": ReadSpec(
        lambda db, w, v, repo: db.jj.file_trackers.changed(
            repo.id, w["workspace"].id, [FileState(path="secret/file", size=12)], viewer_id=v
        ),
        leaks=bool,  # the caller names the paths: any answer at all is a leak
    ),
    "db.jj.snapshots.list": ReadSpec(
        lambda db, w, v, repo: db.jj.snapshots.list(repo.id, w["workspace"].id, viewer_id=v).items,
        reader_sees=lambda r: len(r) == 1,
        leaks=bool,
    ),
    "db.jj.snapshots.find_latest": ReadSpec(
        lambda db, w, v, repo: db.jj.snapshots.find_latest(repo.id, w["workspace"].id, viewer_id=v),
        reader_sees=lambda r: r is not None,
        leaks=lambda r: r is not None,
    ),
    "db.jj.workspaces.get": ReadSpec(
        lambda db, w, v, repo: db.jj.get_workspace(repo.id, w["workspace"].id, viewer_id=v)
    ),
    "db.jj.workspaces.resolve": ReadSpec(
        lambda db, w, v, repo: db.jj.workspaces.resolve(
            repo.id, w["workspace"].short_id, viewer_id=v
        )
    ),
    "db.jj.workspaces.resolve_agent": ReadSpec(
        lambda db, w, v, repo: db.jj.workspaces.resolve_agent(
            repo.id, str(w["agent"])[:8], viewer_id=v
        )
    ),
    "db.jj.workspaces.list": ReadSpec(
        lambda db, w, v, repo: db.jj.list_workspaces(repo.id, viewer_id=v).items
    ),
    "db.jj.workspaces.history": ReadSpec(
        lambda db, w, v, repo: (
            db.jj.workspace_history(repo.id, w["workspace"].id, viewer_id=v).items
        )
    ),
    "db.jj.workspaces.find_stale": ReadSpec(
        lambda db, w, v, repo: (
            db.jj.find_stale_workspaces(
                repo.id, older_than=timedelta(microseconds=1), viewer_id=v
            ).items
        )
    ),
    "db.collaboration.watches.get": ReadSpec(
        lambda db, w, v, repo: db.collaboration.watches.get(repo.id, viewer_id=v),  # type: ignore[arg-type]
        reader_sees=lambda r: r == "participating",
        viewer_required=True,
    ),
    "db.landing.requests.get": ReadSpec(
        lambda db, w, v, repo: db.landing.requests.get(repo.id, 3, viewer_id=v)
    ),
    "db.landing.requests.list": ReadSpec(
        lambda db, w, v, repo: db.landing.requests.list(repo.id, viewer_id=v).items
    ),
    "db.landing.requests.history": ReadSpec(
        lambda db, w, v, repo: db.landing.requests.history(repo.id, 3, viewer_id=v)
    ),
    "db.landing.queues.get": ReadSpec(
        lambda db, w, v, repo: db.landing.queues.get(repo.id, "secret-main", viewer_id=v),
        reader_sees=lambda r: r.queued == 2,
        leaks=lambda r: r is not None and r.queued > 0,  # the caller names the bookmark
    ),
    "db.landing.queues.entries": ReadSpec(
        lambda db, w, v, repo: db.landing.queues.entries(repo.id, "secret-main", viewer_id=v).items
    ),
    "db.landing.reviews.list": ReadSpec(
        lambda db, w, v, repo: db.landing.reviews.list(repo.id, 3, viewer_id=v)
    ),
    "db.landing.reviews.comments": ReadSpec(
        lambda db, w, v, repo: db.landing.reviews.comments(repo.id, 3, viewer_id=v).items
    ),
    "db.landing.reviews.summary": ReadSpec(
        lambda db, w, v, repo: db.landing.reviews.summary(repo.id, 3, viewer_id=v),
        reader_sees=lambda r: r.approvals == 1 and r.required_contexts == ["secret-ci"],
    ),
    "db.landing.pulls.get": ReadSpec(
        lambda db, w, v, repo: db.landing.pulls.get(repo.id, 5, viewer_id=v)
    ),
    "db.landing.pulls.list": ReadSpec(
        lambda db, w, v, repo: db.landing.pulls.list(repo.id, viewer_id=v).items
    ),
    "db.landing.pulls.mergeability": ReadSpec(
        lambda db, w, v, repo: db.landing.pulls.mergeability(repo.id, 5, viewer_id=v)
    ),
    "db.landing.conflicts.list": ReadSpec(
        lambda db, w, v, repo: db.landing.conflicts.list(repo.id, "k" * 32, viewer_id=v)
    ),
}


READS.update(
    {
        path: ReadSpec(call, reader_sees or _reveals)
        for path, (call, reader_sees) in privacy_workflows.READS.items()
    }
)


def _stranger_result(read: ReadSpec, db: ForgeDB, w: W, viewer: int | None, repo: Any) -> Any:
    try:
        return read.call(db, w, viewer, repo)
    except NotFound:
        return None
    except InvalidInput as exc:
        # Only a read of the viewer's own data refuses the anonymous viewer, naming it.
        if viewer is not None or not read.viewer_required or exc.field != "viewer_id":
            raise
        return None


# One world serves every read (reads change nothing); each failure names its operation.


def test_stranger_and_anonymous_reach_nothing_private(fdb: ForgeDB, world: W) -> None:
    problems = []
    for path, read in sorted(READS.items()):
        for viewer in (world["stranger"].id, None):
            result = _stranger_result(read, fdb, world, viewer, world["private"])
            if _reveals(result):
                problems.append(f"{path} reveals private data to {viewer}: {_text(result)}")
            elif path.endswith(("counts", ".count")) and result is not None:
                problems.append(f"{path} counted a private repository for {viewer}: {result}")
    assert not problems, "\n".join(problems)


def test_a_reader_reaches_what_they_may_see(fdb: ForgeDB, world: W) -> None:
    problems = []
    for path, read in sorted(READS.items()):
        result = read.call(fdb, world, world["reader"].id, world["private"])
        if not read.reader_sees(result):
            problems.append(f"{path} shows the reader {_text(result)!r}")
    assert not problems, "\n".join(problems)


def test_a_public_repository_id_with_private_children_reveals_nothing(
    fdb: ForgeDB, world: W
) -> None:
    # The reader may read the private repository, so a child looked up by its id alone, with
    # access checked on the repository id passed, would show here.
    problems = []
    for path, read in sorted(READS.items()):
        if not read.scoped:
            continue
        for viewer in (world["stranger"].id, world["reader"].id, None):
            result = _stranger_result(read, fdb, world, viewer, world["public"])
            if read.leaks(result):
                problems.append(f"{path} via the public id reveals {_text(result)} to {viewer}")
    assert not problems, "\n".join(problems)


# --- writes ----------------------------------------------------------------------------------

Write = Callable[[ForgeDB, W, int, Any], Any]


@dataclass(frozen=True)
class WriteSpec:
    """A write, the least role that may make it, and whether a child id is involved."""

    role: str  # read, author (the row's author or a writer), write, admin
    call: Write
    child: bool = False


WRITES: dict[str, WriteSpec] = {
    "db.repositories.update": WriteSpec(
        "admin", lambda db, w, a, r: db.repositories.update(r.id, actor_id=a, description="x")
    ),
    "db.repositories.rename": WriteSpec(
        "admin", lambda db, w, a, r: db.repositories.rename(r.id, actor_id=a, new_name="renamed")
    ),
    "db.repositories.delete": WriteSpec(
        "admin", lambda db, w, a, r: db.repositories.delete(r.id, actor_id=a)
    ),
    "db.repositories.collaborators.set": WriteSpec(
        "admin",
        lambda db, w, a, r: db.repositories.collaborators.set(
            r.id, actor_id=a, user_id=w["reader"].id, role="admin"
        ),
    ),
    "db.repositories.collaborators.delete": WriteSpec(
        "admin",
        lambda db, w, a, r: db.repositories.collaborators.delete(
            r.id, actor_id=a, user_id=w["reader"].id
        ),
    ),
    "db.repositories.bookmarks.set": WriteSpec(
        "write",
        lambda db, w, a, r: db.repositories.bookmarks.set(
            r.id, actor_id=a, name="secret-main", targets="c" * 40
        ),
    ),
    "db.repositories.bookmarks.delete": WriteSpec(
        "write",
        lambda db, w, a, r: db.repositories.bookmarks.delete(r.id, actor_id=a, name="secret-main"),
    ),
    "db.repositories.bookmarks.rename": WriteSpec(
        "write",
        lambda db, w, a, r: db.repositories.bookmarks.rename(
            r.id, actor_id=a, old_name="secret-main", new_name="moved"
        ),
    ),
    "db.repositories.branches.set": WriteSpec(
        "write",
        lambda db, w, a, r: db.repositories.branches.set(
            r.id, actor_id=a, name="secret-branch", commit_id="d" * 40
        ),
    ),
    "db.repositories.branches.delete": WriteSpec(
        "write",
        lambda db, w, a, r: db.repositories.branches.delete(r.id, actor_id=a, name="secret-branch"),
    ),
    "db.repositories.protection.set": WriteSpec(
        "admin",
        lambda db, w, a, r: db.repositories.protection.set(r.id, actor_id=a, pattern="secret-*"),
    ),
    "db.repositories.protection.delete": WriteSpec(
        "admin",
        lambda db, w, a, r: db.repositories.protection.delete(r.id, actor_id=a, pattern="secret-*"),
    ),
    "db.repositories.statuses.set": WriteSpec(
        "write",
        lambda db, w, a, r: db.repositories.statuses.set(
            r.id, actor_id=a, commit_id="a" * 40, context="secret-ci", state="failure"
        ),
    ),
    "db.issues.create": WriteSpec(
        "read", lambda db, w, a, r: db.issues.create(r.id, actor_id=a, title="new")
    ),
    "db.issues.update": WriteSpec(
        "author", lambda db, w, a, r: db.issues.update(r.id, 1, actor_id=a, title="edited")
    ),
    "db.issues.close": WriteSpec(
        "author", lambda db, w, a, r: db.issues.close(r.id, 1, actor_id=a)
    ),
    "db.issues.reopen": WriteSpec(
        "author", lambda db, w, a, r: db.issues.reopen(r.id, 1, actor_id=a)
    ),
    "db.issues.set_locked": WriteSpec(
        "write", lambda db, w, a, r: db.issues.set_locked(r.id, 1, actor_id=a, locked=True)
    ),
    "db.issues.comments.create": WriteSpec(
        "read", lambda db, w, a, r: db.issues.comments.create(r.id, 1, actor_id=a, body="hi")
    ),
    "db.issues.comments.update": WriteSpec(
        "author",
        lambda db, w, a, r: db.issues.comments.update(r.id, w["comment"].id, actor_id=a, body="x"),
        child=True,
    ),
    "db.issues.comments.delete": WriteSpec(
        "author",
        lambda db, w, a, r: db.issues.comments.delete(r.id, w["comment"].id, actor_id=a),
        child=True,
    ),
    "db.issues.labels.create": WriteSpec(
        "write", lambda db, w, a, r: db.issues.labels.create(r.id, actor_id=a, name="new-label")
    ),
    "db.issues.labels.update": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.labels.update(r.id, w["label"].id, actor_id=a, name="x"),
        child=True,
    ),
    "db.issues.labels.delete": WriteSpec(
        "write",
        lambda db, w, a, r: _true_or_not_found(
            db.issues.labels.delete(r.id, w["label"].id, actor_id=a)
        ),
        child=True,
    ),
    "db.issues.labels.set_on_issue": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.labels.set_on_issue(
            r.id, 1, actor_id=a, remove=["secret-label"]
        ),
    ),
    "db.issues.milestones.create": WriteSpec(
        "write", lambda db, w, a, r: db.issues.milestones.create(r.id, actor_id=a, title="m2")
    ),
    "db.issues.milestones.set_state": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.milestones.set_state(
            r.id, w["milestone"].id, actor_id=a, state="closed"
        ),
        child=True,
    ),
    "db.issues.milestones.set_on_issue": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.milestones.set_on_issue(
            r.id, 1, actor_id=a, milestone_id=w["milestone"].id
        ),
        child=True,
    ),
    "db.issues.assignees.add": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.assignees.add(r.id, 1, actor_id=a, user_ids=[w["owner"].id]),
    ),
    "db.issues.assignees.remove": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.assignees.remove(
            r.id, 1, actor_id=a, user_ids=[w["owner"].id]
        ),
    ),
    "db.issues.links.add_dependency": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.links.add_dependency(r.id, actor_id=a, blocking=1, blocked=2),
    ),
    "db.issues.links.remove_dependency": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.links.remove_dependency(
            r.id, actor_id=a, blocking=1, blocked=2
        ),
    ),
    "db.issues.links.add_subtask": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.links.add_subtask(r.id, actor_id=a, parent=1, child=2),
    ),
    "db.issues.links.remove_subtask": WriteSpec(
        "write",
        lambda db, w, a, r: db.issues.links.remove_subtask(r.id, actor_id=a, parent=1, child=2),
    ),
    "db.issues.pins.add": WriteSpec(
        "write", lambda db, w, a, r: db.issues.pins.add(r.id, 2, actor_id=a)
    ),
    "db.issues.pins.remove": WriteSpec(
        "write", lambda db, w, a, r: db.issues.pins.remove(r.id, 1, actor_id=a)
    ),
    "db.issues.pins.reorder": WriteSpec(
        "write", lambda db, w, a, r: db.issues.pins.reorder(r.id, actor_id=a, numbers=[1])
    ),
    "db.collaboration.reactions.toggle": WriteSpec(
        "read",
        lambda db, w, a, r: db.collaboration.reactions.toggle(
            r.id, actor_id=a, emoji="heart", comment_id=w["comment"].id
        ),
        child=True,
    ),
    "db.collaboration.stars.toggle": WriteSpec(
        "read", lambda db, w, a, r: db.collaboration.stars.toggle(r.id, actor_id=a)
    ),
    "db.collaboration.watches.set": WriteSpec(
        "read",
        lambda db, w, a, r: db.collaboration.watches.set(r.id, actor_id=a, level="ignoring"),
    ),
    "db.jj.operations.record": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.record_operations(
            r.id,
            [w["operation"].model_copy(update={"operation_id": secrets.token_hex(64)})],
            actor_id=a,
        ),
    ),
    "db.jj.changes.record": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.record_commits(
            r.id,
            [w["commit"].model_copy(update={"commit_id": secrets.token_hex(20)})],
            actor_id=a,
        ),
    ),
    "db.jj.changes.abandon": WriteSpec(
        "write",
        lambda db, w, a, r: _true_or_not_found(
            db.jj.changes.abandon(r.id, [w["commit"].commit_id], actor_id=a) > 0
        ),
        child=True,
    ),
    "db.jj.blobs.put": WriteSpec(
        "write", lambda db, w, a, r: db.jj.put_blob(r.id, b"new content", actor_id=a)
    ),
    "db.jj.blobs.put_many": WriteSpec(
        "write", lambda db, w, a, r: db.jj.put_blobs(r.id, [b"one", b"two"], actor_id=a)
    ),
    "db.jj.parts.record": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.parts.record(
            r.id,
            [PartRecord(commit_id=w["commit"].commit_id, path="other.txt", status="added")],
            actor_id=a,
        ),
        child=True,
    ),
    "db.jj.file_trackers.set": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.file_trackers.set(
            r.id,
            w["workspace"].id,
            actor_id=a,
            files=[FileState(path="new/file", size=1)],
            removed=["secret/file"],
        ),
        child=True,
    ),
    "db.jj.snapshots.record": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.snapshots.record(
            r.id,
            w["workspace"].id,
            actor_id=a,
            operation_id=w["operation"].operation_id,
            working_copy_commit_id="c" * 40,
        ),
        child=True,
    ),
    "db.jj.workspaces.create": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.create_workspace(
            r.id, actor_id=a, name=f"ws-{secrets.token_hex(4)}"
        ),
    ),
    "db.jj.workspaces.transition": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.transition_workspace(
            r.id, w["workspace"].id, actor_id=a, state="active"
        ),
        child=True,
    ),
    "db.jj.workspaces.sync": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.workspaces.sync(
            r.id,
            w["workspace"].id,
            actor_id=a,
            operation_id=w["operation"].operation_id,
            working_copy_commit_id="c" * 40,
        ),
        child=True,
    ),
    "db.jj.locks.acquire": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.lock_workspace(
            r.id, w["workspace"].id, actor_id=a, agent_id=uuid.uuid4(), operation="modify"
        ),
        child=True,
    ),
    "db.jj.locks.renew": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.locks.renew(
            r.id,
            w["workspace"].id,
            actor_id=a,
            agent_id=w["agent"],
            operation="sync",
            token=w["lock"].fencing_token,
        ),
        child=True,
    ),
    "db.jj.locks.release": WriteSpec(
        "write",
        lambda db, w, a, r: db.jj.unlock_workspace(
            r.id,
            w["workspace"].id,
            actor_id=a,
            agent_id=w["agent"],
            operation="sync",
            token=w["lock"].fencing_token,
        ),
        child=True,
    ),
    "db.landing.requests.submit": WriteSpec(
        "write",
        lambda db, w, a, r: db.landing.requests.submit(
            r.id,
            actor_id=a,
            change_id="m" * 32,
            commit_id="a" * 40,
            bookmark="secret-main",
            title="new",
        ),
    ),
    "db.landing.requests.cancel": WriteSpec(
        "author", lambda db, w, a, r: db.landing.requests.cancel(r.id, 4, actor_id=a)
    ),
    "db.landing.requests.update_commit": WriteSpec(
        "author",
        lambda db, w, a, r: db.landing.requests.update_commit(
            r.id, 4, actor_id=a, commit_id="c" * 40
        ),
    ),
    "db.landing.requests.set_priority": WriteSpec(
        "write",
        lambda db, w, a, r: db.landing.requests.set_priority(r.id, 4, actor_id=a, priority=9),
    ),
    "db.landing.queues.pause": WriteSpec(
        "write", lambda db, w, a, r: db.landing.queues.pause(r.id, "secret-main", actor_id=a)
    ),
    "db.landing.queues.drain": WriteSpec(
        "write", lambda db, w, a, r: db.landing.queues.drain(r.id, "secret-main", actor_id=a)
    ),
    "db.landing.queues.resume": WriteSpec(
        "write", lambda db, w, a, r: db.landing.queues.resume(r.id, "secret-main", actor_id=a)
    ),
    "db.landing.reviews.review": WriteSpec(
        "write",
        lambda db, w, a, r: db.landing.reviews.review(r.id, 3, actor_id=a, state="approved"),
    ),
    "db.landing.reviews.request_review": WriteSpec(
        "author",
        lambda db, w, a, r: db.landing.reviews.request_review(
            r.id, 3, actor_id=a, reviewer_ids=[w["reader"].id]
        ),
    ),
    "db.landing.reviews.submit": WriteSpec(
        "read",  # the draft's own author only (the writer): anyone else finds nothing
        lambda db, w, a, r: db.landing.reviews.submit(
            r.id, w["draft"].id, actor_id=a, state="commented"
        ),
        child=True,
    ),
    "db.landing.reviews.dismiss": WriteSpec(
        "write",
        lambda db, w, a, r: db.landing.reviews.dismiss(r.id, w["landing_review"].id, actor_id=a),
        child=True,
    ),
    "db.landing.reviews.comment_line": WriteSpec(
        "read",
        lambda db, w, a, r: db.landing.reviews.comment_line(
            r.id, 3, actor_id=a, path="x", line=1, body="hi"
        ),
    ),
    "db.landing.reviews.resolve_thread": WriteSpec(
        "author",
        lambda db, w, a, r: db.landing.reviews.resolve_thread(
            r.id, w["line_comment"].id, actor_id=a
        ),
        child=True,
    ),
    "db.landing.pulls.open": WriteSpec(
        "read",
        lambda db, w, a, r: db.landing.pulls.open(
            r.id, actor_id=a, title="t", head_ref="h", base_ref="main", head_commit_id="a" * 40
        ),
    ),
    "db.landing.pulls.update_head": WriteSpec(
        "author",
        lambda db, w, a, r: db.landing.pulls.update_head(r.id, 5, actor_id=a, commit_id="c" * 40),
    ),
    "db.landing.pulls.set_draft": WriteSpec(
        "author", lambda db, w, a, r: db.landing.pulls.set_draft(r.id, 5, actor_id=a, draft=True)
    ),
    "db.landing.pulls.merge": WriteSpec(
        "write",
        lambda db, w, a, r: db.landing.pulls.merge(r.id, 5, actor_id=a, merge_commit_id="d" * 40),
    ),
    "db.landing.pulls.close": WriteSpec(
        "author", lambda db, w, a, r: db.landing.pulls.close(r.id, 5, actor_id=a)
    ),
    "db.landing.pulls.reopen": WriteSpec(
        "author", lambda db, w, a, r: db.landing.pulls.reopen(r.id, 6, actor_id=a)
    ),
    "db.landing.conflicts.record": WriteSpec(
        "write",
        lambda db, w, a, r: db.landing.conflicts.record(
            r.id, actor_id=a, change_id="k" * 32, commit_id="c" * 40, paths=["secret/file"]
        ),
    ),
    "db.landing.conflicts.resolve": WriteSpec(
        "write",
        lambda db, w, a, r: db.landing.conflicts.resolve(
            r.id, actor_id=a, change_id="k" * 32, path="secret/file", resolved_commit_id="c" * 40
        ),
    ),
}


WRITES.update(
    {
        path: WriteSpec(role, call, child=child)
        for path, (role, call, child) in privacy_workflows.WRITES.items()
    }
)


def _true_or_not_found(changed: bool) -> bool:
    # "Did it change" operations report False for a row they do not find; for the matrix a
    # refusal to delete what the caller may not see counts as not found.
    if not changed:
        raise NotFound("nothing deleted")
    return changed


# Operations on the actor's own account, or the operator's, not on repository data. Their own
# test modules check them (tests/users, tests/auth, tests/collaboration/test_messages.py, ...).
ACCOUNT = {
    path
    for path in OPERATIONS
    if path.startswith(("db.meta.", "db.users.", "db.auth.", "db.collaboration.messages."))
} | {
    "db.repositories.create",
    "db.collaboration.notifications.mark_read",
    "db.collaboration.notifications.mark_all_read",
}
# Infrastructure that services, runners and operators call (the coordination domain, the
# runner-authenticated workflow calls, the landing workers, which name themselves, not a user,
# and reach every repository), and store maintenance: not repository data read or written on
# a person's behalf; their own tests check each one.
ADMINISTRATIVE = (
    {"db.issues.admin_check_counts", "db.jj.blobs.collect_garbage"}
    | {path for path in OPERATIONS if path.startswith(("db.coordination.", "db.landing.workers."))}
    | privacy_workflows.ADMINISTRATIVE
)


def test_every_operation_is_classified() -> None:
    classified = set(READS) | set(WRITES) | ACCOUNT | ADMINISTRATIVE
    assert classified == set(OPERATIONS), {
        "unclassified": sorted(set(OPERATIONS) - classified),
        "unknown": sorted(classified - set(OPERATIONS)),
    }
    assert all(OPERATIONS[p].writes for p in WRITES)
    assert not any(OPERATIONS[p].writes for p in READS)


_TABLES = (
    "repositories", "repository_collaborators", "bookmarks", "renamed_branches", "branches",
    "protected_branches", "commit_statuses", "commit_status_history", "issues", "issue_labels", "issue_assignees", "issue_dependencies",
    "subtasks", "pinned_issues", "labels", "milestones", "comments", "mentions", "reactions",
    "stars", "watches", "notifications", "jj_operations", "jj_operation_heads", "changes",
    "blobs", "repository_blobs", "jj_workspaces", "jj_workspace_transitions", "leases",
    "parts", "file_trackers", "snapshot_history",
    *privacy_workflows.TABLES,
    "stars", "watches", "notifications", "landing_queue", "landing_queues", "landing_batches",
    "landing_events", "landing_reviews", "landing_line_comments", "pull_requests", "reviews",
    "review_comments", "conflicts",
)  # fmt: skip


def _snapshot(conn: psycopg.Connection[Any]) -> dict[str, str]:
    return {
        table: conn.execute(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        ).fetchone()[0]  # type: ignore[index]
        for table in _TABLES
    }


_RANK = {"read": 1, "author": 2, "write": 2, "admin": 3}


@pytest.mark.parametrize("path", sorted(WRITES))
def test_a_write_is_refused_below_its_role_and_changes_nothing(
    fdb: ForgeDB, world: W, conn: psycopg.Connection[Any], path: str
) -> None:
    write = WRITES[path]
    private = world["private"]
    before = _snapshot(conn)
    with pytest.raises(NotFound):
        write.call(fdb, world, world["stranger"].id, private)
    for role, actor in (("read", world["reader"]), ("write", world["writer"])):
        if _RANK[role] < _RANK[write.role] or (write.role == "author" and role == "read"):
            with pytest.raises(PermissionDenied) as refused:
                write.call(fdb, world, actor.id, private)
            assert "secret" not in str(refused.value)
    assert _snapshot(conn) == before, f"{path} changed data while refusing"
    permitted = world["owner"] if write.role == "admin" else world["writer"]
    write.call(fdb, world, permitted.id, private)


@pytest.mark.parametrize("path", sorted(p for p, spec in WRITES.items() if spec.child))
def test_a_write_through_a_public_repository_cannot_reach_a_private_child(
    fdb: ForgeDB, world: W, conn: psycopg.Connection[Any], path: str
) -> None:
    before = _snapshot(conn)
    with pytest.raises(NotFound):
        WRITES[path].call(fdb, world, world["stranger"].id, world["public"])
    assert _snapshot(conn) == before, f"{path} changed data through a mismatched id"


def test_a_stranger_cannot_mark_someone_elses_notification_read(
    fdb: ForgeDB, world: W, conn: psycopg.Connection[Any]
) -> None:
    notes = fdb.collaboration.notifications.list(viewer_id=world["reader"].id).items
    assert notes
    assert not fdb.collaboration.notifications.mark_read(notes[0].id, actor_id=world["stranger"].id)
    assert fdb.collaboration.notifications.mark_all_read(actor_id=world["stranger"].id) == 0
    assert fdb.collaboration.notifications.unread_count(viewer_id=world["reader"].id) == len(notes)


def test_no_notification_is_stored_for_a_mentioned_stranger(
    world: W, conn: psycopg.Connection[Any]
) -> None:
    stored = conn.execute(
        "SELECT count(*) FROM notifications WHERE user_id = %s", (world["stranger"].id,)
    ).fetchone()
    assert stored == (0,)


def test_a_strangers_delete_on_empty_analyzed_tables_is_still_not_found(
    fdb: ForgeDB, world: W, conn: psycopg.Connection[Any]
) -> None:
    # The plan for an empty, analyzed table reads it before the guard; the guard must run anyway.
    for table in ("bookmarks", "branches", "protected_branches", "pinned_issues", "labels"):
        conn.execute(f"DELETE FROM {table}")
        conn.execute(f"ANALYZE {table}")
    private, stranger = world["private"], world["stranger"]
    attempts: list[Callable[[], object]] = [
        lambda: fdb.repositories.bookmarks.delete(private.id, actor_id=stranger.id, name="x"),
        lambda: fdb.repositories.branches.delete(private.id, actor_id=stranger.id, name="x"),
        lambda: fdb.repositories.protection.delete(private.id, actor_id=stranger.id, pattern="x"),
        lambda: fdb.issues.pins.remove(private.id, 1, actor_id=stranger.id),
        lambda: fdb.issues.labels.delete(private.id, world["label"].id, actor_id=stranger.id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            attempt()
