"""No read operation lets a stranger reach a private repository's issues, comments, reactions
or notifications. Every operation of the issues and collaboration namespaces is classified here,
so a new one cannot be added without saying how it treats privacy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, NotFound
from forge_db.collaboration import Collaboration
from forge_db.issues import Issues
from forge_db.query import operation

Read = Callable[[ForgeDB, dict[str, Any], int | None], Any]

ISSUE_READS: dict[str, Read] = {
    "get": lambda db, w, v: db.issues.get(w["repo"].id, 1, viewer_id=v),
    "list": lambda db, w, v: db.issues.list(w["repo"].id, viewer_id=v, state="all").items,
    "search": lambda db, w, v: db.issues.search(w["repo"].id, "secret", viewer_id=v).items,
    "counts": lambda db, w, v: db.issues.counts(w["repo"].id, viewer_id=v),
    "list_comments": lambda db, w, v: db.issues.list_comments(w["repo"].id, 1, viewer_id=v).items,
    "get_comment": lambda db, w, v: db.issues.get_comment(
        w["repo"].id, w["comment"].id, viewer_id=v
    ),
    "list_labels": lambda db, w, v: db.issues.list_labels(w["repo"].id, viewer_id=v),
    "list_milestones": lambda db, w, v: db.issues.list_milestones(w["repo"].id, viewer_id=v),
    "links": lambda db, w, v: db.issues.links(w["repo"].id, 1, viewer_id=v),
    "list_pinned": lambda db, w, v: db.issues.list_pinned(w["repo"].id, viewer_id=v),
}
# Operator-only: a whole-database audit with no viewer, not reachable by a web request's user.
ISSUE_ADMIN = {"check_counts"}
ISSUE_WRITES = {
    "create",
    "update",
    "close",
    "reopen",
    "set_locked",
    "add_comment",
    "edit_comment",
    "delete_comment",
    "create_label",
    "update_label",
    "delete_label",
    "set_labels",
    "create_milestone",
    "set_milestone_state",
    "set_milestone",
    "assign",
    "unassign",
    "add_dependency",
    "remove_dependency",
    "add_subtask",
    "remove_subtask",
    "pin",
    "unpin",
    "reorder_pins",
}
COLLABORATION_READS: dict[str, Read] = {
    "list_notifications": lambda db, w, v: (
        db.collaboration.list_notifications(v).items if v else []
    ),
    "unread_notification_count": lambda db, w, v: (
        db.collaboration.unread_notification_count(v) or [] if v else []
    ),
    "star_count": lambda db, w, v: db.collaboration.star_count(w["repo"].id, viewer_id=v),
    "list_starred": lambda db, w, v: (
        db.collaboration.list_starred(w["owner"].id, viewer_id=v).items
    ),
    "get_watch": lambda db, w, v: db.collaboration.get_watch(v, w["repo"].id) if v else [],
}
# Personal, not repository data: a user's own messages and read markers.
COLLABORATION_PERSONAL = {
    "list_conversation",
    "unread_message_count",
    "mark_conversation_read",
    "send_message",
}
COLLABORATION_WRITES = {
    "toggle_reaction",
    "mark_notification_read",
    "mark_all_notifications_read",
    "toggle_star",
    "set_watch",
}


def _operations(namespace: type) -> set[str]:
    return {
        name
        for klass in namespace.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, operation)
    }


def test_every_issue_operation_is_classified() -> None:
    assert _operations(Issues) == set(ISSUE_READS) | ISSUE_ADMIN | ISSUE_WRITES


def test_every_collaboration_operation_is_classified() -> None:
    assert (
        _operations(Collaboration)
        == set(COLLABORATION_READS) | COLLABORATION_PERSONAL | COLLABORATION_WRITES
    )


@pytest.fixture
def private_world(fdb: ForgeDB) -> dict[str, Any]:
    owner, friend, stranger = make_user(fdb), make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner, private=True)
    fdb.repositories.set_collaborator(repo.id, actor_id=owner.id, user_id=friend.id, role="write")
    fdb.issues.create_label(repo.id, actor_id=owner.id, name="secret-label")
    fdb.issues.create_milestone(repo.id, actor_id=owner.id, title="secret milestone")
    fdb.issues.create(
        repository_id=repo.id,
        author_id=owner.id,
        title="secret plan",
        body=f"@{stranger.username} @{friend.username} secret",
        labels=["secret-label"],
    )
    fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="secret two")
    fdb.issues.add_dependency(repo.id, actor_id=owner.id, blocking=1, blocked=2)
    fdb.issues.pin(repo.id, 1, actor_id=owner.id)
    comment = fdb.issues.add_comment(
        repo.id, 1, author_id=friend.id, body=f"secret reply @{stranger.username}"
    )
    fdb.collaboration.toggle_reaction(repo.id, actor_id=friend.id, emoji="heart", issue_number=1)
    fdb.collaboration.toggle_reaction(
        repo.id, actor_id=friend.id, emoji="eyes", comment_id=comment.id
    )
    fdb.collaboration.toggle_star(owner.id, repo.id)
    return {
        "owner": owner,
        "friend": friend,
        "stranger": stranger,
        "repo": repo,
        "comment": comment,
    }


def _reveals(result: Any) -> bool:
    if isinstance(result, list):
        return bool(result)
    return result is not None


@pytest.mark.parametrize("read", sorted(ISSUE_READS) + sorted(COLLABORATION_READS))
def test_stranger_and_anonymous_reach_nothing_private(
    fdb: ForgeDB, private_world: dict[str, Any], read: str
) -> None:
    function = ISSUE_READS.get(read) or COLLABORATION_READS[read]
    for viewer in (private_world["stranger"].id, None):
        try:
            result = function(fdb, private_world, viewer)
        except NotFound:
            continue
        assert not _reveals(result), f"{read} reveals private data to viewer {viewer}: {result!r}"


@pytest.mark.parametrize("read", sorted(ISSUE_READS) + sorted(COLLABORATION_READS))
def test_collaborator_reaches_everything(
    fdb: ForgeDB, private_world: dict[str, Any], read: str
) -> None:
    function = ISSUE_READS.get(read) or COLLABORATION_READS[read]
    viewer = private_world["friend"].id if read != "list_starred" else private_world["owner"].id
    result = function(fdb, private_world, viewer)
    if read in ("get_watch",):
        assert result == "participating"
    elif read == "star_count":
        assert result == 1
    else:
        assert _reveals(result), f"{read} shows nothing to a collaborator"


def test_private_writes_by_a_stranger_are_not_found(
    fdb: ForgeDB, private_world: dict[str, Any]
) -> None:
    stranger, repo = private_world["stranger"], private_world["repo"]
    attempts = [
        lambda: fdb.issues.create(repository_id=repo.id, author_id=stranger.id, title="x"),
        lambda: fdb.issues.add_comment(repo.id, 1, author_id=stranger.id, body="x"),
        lambda: fdb.collaboration.toggle_reaction(
            repo.id, actor_id=stranger.id, emoji="eyes", issue_number=1
        ),
        lambda: fdb.collaboration.toggle_star(stranger.id, repo.id),
        lambda: fdb.collaboration.set_watch(stranger.id, repo.id, "watching"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            attempt()
