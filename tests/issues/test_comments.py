"""db.issues.comments: the conversation of an issue: add, edit, delete, list, get."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.issues import Comment
from forge_db.users import User

from .conftest import World, every_page, numbers, open_issue, unchanged

Conn = psycopg.Connection[Any]


def _say(fdb: ForgeDB, repo_id: int, number: int, author: User, body: str = "hello") -> Comment:
    return fdb.issues.comments.create(repo_id, number, actor_id=author.id, body=body)


# --- create ------------------------------------------------------------------------------------


def test_a_comment_joins_the_conversation_and_is_counted(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    comment = _say(fdb, world.repo.id, issue.number, world.stranger, "me too")
    assert (comment.issue_id, comment.repository_id) == (issue.id, world.repo.id)
    assert (comment.author_id, comment.author, comment.body) == (
        world.stranger.id,
        world.stranger.username,
        "me too",
    )
    assert (comment.edited_at, comment.deleted_at, comment.reactions) == (None, None, {})
    assert fdb.issues.get(world.repo.id, issue.number).comment_count == 1
    assert fdb.issues.comments.list(world.repo.id, issue.number).items == [comment]


def test_a_read_collaborator_may_comment_on_a_private_issue(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.private, world.owner)
    comment = _say(fdb, world.private.id, issue.number, world.reader)
    assert comment.author_id == world.reader.id


def test_a_comment_on_an_unknown_issue_is_not_found(fdb: ForgeDB, world: World, conn: Conn) -> None:
    open_issue(fdb, world.repo, world.owner)
    with unchanged(conn), pytest.raises(NotFound, match="#9"):
        _say(fdb, world.repo.id, 9, world.owner)


@pytest.mark.parametrize(
    "body",
    ["", " ", "\n\t", "x" * 65537, "nul\x00"],
    ids=["empty", "space", "blank", "long", "nul"],
)
def test_a_blank_oversized_or_nul_comment_is_invalid_input_naming_body(
    fdb: ForgeDB, world: World, conn: Conn, body: str
) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with unchanged(conn), pytest.raises(InvalidInput) as refused:
        _say(fdb, world.repo.id, issue.number, world.owner, body)
    assert refused.value.field == "body"


def test_a_comment_records_its_mentions(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    _say(fdb, world.repo.id, issue.number, world.owner, f"ping @{world.writer.username}")
    mentioning = fdb.issues.list(world.repo.id, mentioned_id=world.writer.id).items
    assert numbers(mentioning) == [issue.number]


def test_a_comment_notifies_the_issues_author_and_assignees(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.reader)
    fdb.issues.assignees.add(
        world.repo.id, issue.number, actor_id=world.owner.id, user_ids=[world.writer.id]
    )
    comment = _say(fdb, world.repo.id, issue.number, world.owner)
    [to_author] = fdb.collaboration.notifications.list(viewer_id=world.reader.id).items
    assert (to_author.reason, to_author.comment_id) == ("author", comment.id)
    told = fdb.collaboration.notifications.list(viewer_id=world.writer.id).items
    assert [(n.reason, n.comment_id) for n in told] == [("assign", comment.id), ("assign", None)]


# --- locked conversations ------------------------------------------------------------------------


@pytest.fixture
def locked(fdb: ForgeDB, world: World) -> int:
    """Issue #1 of the private repository, opened by the reader and locked by the writer."""
    issue = open_issue(fdb, world.private, world.reader)
    fdb.issues.set_locked(world.private.id, issue.number, actor_id=world.writer.id, locked=True)
    return issue.number


@pytest.mark.parametrize("who", ["reader", "stranger-on-public"])
def test_a_reader_cannot_comment_on_a_locked_issue(
    fdb: ForgeDB, world: World, conn: Conn, who: str
) -> None:
    repository = world.private if who == "reader" else world.repo
    actor = world.reader if who == "reader" else world.stranger
    issue = open_issue(fdb, repository, world.owner)
    fdb.issues.set_locked(repository.id, issue.number, actor_id=world.owner.id, locked=True)
    with unchanged(conn), pytest.raises(PermissionDenied, match="locked"):
        _say(fdb, repository.id, issue.number, actor)


def test_the_author_cannot_comment_on_their_locked_issue_without_the_write_role(
    fdb: ForgeDB, world: World, conn: Conn, locked: int
) -> None:
    with unchanged(conn), pytest.raises(PermissionDenied, match="locked"):
        _say(fdb, world.private.id, locked, world.reader)


@pytest.mark.parametrize("who", ["writer", "owner"])
def test_a_writer_may_comment_on_a_locked_issue(
    fdb: ForgeDB, world: World, locked: int, who: str
) -> None:
    comment = _say(fdb, world.private.id, locked, getattr(world, who), "ok")
    assert comment.body == "ok"
    assert fdb.issues.get(world.private.id, locked, viewer_id=world.owner.id).comment_count == 1


def test_unlocking_lets_readers_comment_again(fdb: ForgeDB, world: World, locked: int) -> None:
    fdb.issues.set_locked(world.private.id, locked, actor_id=world.writer.id, locked=False)
    assert _say(fdb, world.private.id, locked, world.reader, "thanks").body == "thanks"


# --- update ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thread:
    """Issue #1 of the private repository with a comment by the reader and one by the writer."""

    repo_id: int
    number: int
    readers: Comment
    writers: Comment


@pytest.fixture
def thread(fdb: ForgeDB, world: World) -> Thread:
    issue = open_issue(fdb, world.private, world.owner)
    readers = _say(fdb, world.private.id, issue.number, world.reader, "the reader's")
    writers = _say(fdb, world.private.id, issue.number, world.writer, "the writer's")
    return Thread(world.private.id, issue.number, readers, writers)


def test_the_author_may_edit_their_comment(fdb: ForgeDB, world: World, thread: Thread) -> None:
    edited = fdb.issues.comments.update(
        thread.repo_id, thread.readers.id, actor_id=world.reader.id, body="uno"
    )
    assert (edited.body, edited.author_id) == ("uno", world.reader.id)
    assert edited.edited_at is not None
    assert edited == fdb.issues.comments.get(
        thread.repo_id, thread.readers.id, viewer_id=world.reader.id
    )


def test_a_writer_may_edit_anyones_comment(fdb: ForgeDB, world: World, thread: Thread) -> None:
    edited = fdb.issues.comments.update(
        thread.repo_id, thread.readers.id, actor_id=world.writer.id, body="moderated"
    )
    assert (edited.body, edited.author_id) == ("moderated", world.reader.id)


def test_a_reader_may_not_edit_someone_elses_comment(
    fdb: ForgeDB, world: World, thread: Thread, conn: Conn
) -> None:
    with unchanged(conn), pytest.raises(PermissionDenied, match="edit a comment"):
        fdb.issues.comments.update(
            thread.repo_id, thread.writers.id, actor_id=world.reader.id, body="hijack"
        )


def test_a_blank_edit_is_invalid_input_naming_body(
    fdb: ForgeDB, world: World, thread: Thread
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.comments.update(
            thread.repo_id, thread.readers.id, actor_id=world.reader.id, body="  "
        )
    assert refused.value.field == "body"


def test_a_deleted_comment_cannot_be_edited(
    fdb: ForgeDB, world: World, thread: Thread, conn: Conn
) -> None:
    fdb.issues.comments.delete(thread.repo_id, thread.readers.id, actor_id=world.reader.id)
    with unchanged(conn), pytest.raises(NotFound):
        fdb.issues.comments.update(
            thread.repo_id, thread.readers.id, actor_id=world.reader.id, body="resurrect"
        )


def test_an_edit_records_new_mentions_and_forgets_removed_ones(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    comment = _say(fdb, world.repo.id, issue.number, world.owner, f"@{world.writer.username}")
    fdb.issues.comments.update(
        world.repo.id, comment.id, actor_id=world.owner.id, body=f"@{world.reader.username}"
    )

    def mentioning(user: User) -> list[int]:
        return numbers(fdb.issues.list(world.repo.id, mentioned_id=user.id).items)

    assert (mentioning(world.reader), mentioning(world.writer)) == ([issue.number], [])


# --- delete ------------------------------------------------------------------------------------


def test_delete_leaves_a_tombstone_that_is_not_counted(
    fdb: ForgeDB, world: World, thread: Thread
) -> None:
    tomb = fdb.issues.comments.delete(thread.repo_id, thread.readers.id, actor_id=world.reader.id)
    assert (tomb.id, tomb.body, tomb.author_id) == (thread.readers.id, "", world.reader.id)
    assert tomb.deleted_at is not None
    issue = fdb.issues.get(thread.repo_id, thread.number, viewer_id=world.owner.id)
    assert issue.comment_count == 1


def test_deleting_a_deleted_comment_is_not_found(
    fdb: ForgeDB, world: World, thread: Thread, conn: Conn
) -> None:
    fdb.issues.comments.delete(thread.repo_id, thread.readers.id, actor_id=world.reader.id)
    with unchanged(conn), pytest.raises(NotFound):
        fdb.issues.comments.delete(thread.repo_id, thread.readers.id, actor_id=world.reader.id)


def test_a_writer_may_delete_anyones_comment(fdb: ForgeDB, world: World, thread: Thread) -> None:
    tomb = fdb.issues.comments.delete(thread.repo_id, thread.readers.id, actor_id=world.writer.id)
    assert tomb.deleted_at is not None


def test_a_reader_may_not_delete_someone_elses_comment(
    fdb: ForgeDB, world: World, thread: Thread, conn: Conn
) -> None:
    with unchanged(conn), pytest.raises(PermissionDenied, match="delete a comment"):
        fdb.issues.comments.delete(thread.repo_id, thread.writers.id, actor_id=world.reader.id)


def test_delete_forgets_the_comments_mentions(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    comment = _say(fdb, world.repo.id, issue.number, world.owner, f"@{world.writer.username}")
    fdb.issues.comments.delete(world.repo.id, comment.id, actor_id=world.owner.id)
    assert fdb.issues.list(world.repo.id, mentioned_id=world.writer.id).items == []


# --- ids of another repository -------------------------------------------------------------------


@pytest.fixture
def private_comment(fdb: ForgeDB, world: World) -> Comment:
    """A comment in the private repository, while the public one has an issue of the same
    number with a comment of its own."""
    open_issue(fdb, world.repo, world.owner)
    _say(fdb, world.repo.id, 1, world.owner, "public")
    issue = open_issue(fdb, world.private, world.owner)
    return _say(fdb, world.private.id, issue.number, world.owner, "secret")


@pytest.mark.parametrize("viewer", ["stranger", "anonymous", "owner"])
def test_a_comment_is_found_only_in_its_own_repository(
    fdb: ForgeDB, world: World, private_comment: Comment, viewer: str
) -> None:
    viewer_id = {"stranger": world.stranger.id, "anonymous": None, "owner": world.owner.id}
    with pytest.raises(NotFound):
        fdb.issues.comments.get(world.repo.id, private_comment.id, viewer_id=viewer_id[viewer])


# Writes naming a comment by id, given (fdb, repository id, comment id, actor id).
_BY_ID: dict[str, Callable[[ForgeDB, int, int, int], Comment]] = {
    "update": lambda fdb, r, c, a: fdb.issues.comments.update(r, c, actor_id=a, body="x"),
    "delete": lambda fdb, r, c, a: fdb.issues.comments.delete(r, c, actor_id=a),
}


@pytest.mark.parametrize("actor", ["stranger", "owner"])
@pytest.mark.parametrize("write", sorted(_BY_ID))
def test_a_comment_is_changed_only_through_its_own_repository(
    fdb: ForgeDB, world: World, private_comment: Comment, conn: Conn, write: str, actor: str
) -> None:
    with unchanged(conn), pytest.raises(NotFound):
        _BY_ID[write](fdb, world.repo.id, private_comment.id, getattr(world, actor).id)


# --- list --------------------------------------------------------------------------------------


def test_the_conversation_lists_oldest_first_with_tombstones(
    fdb: ForgeDB, world: World, thread: Thread
) -> None:
    fdb.issues.comments.delete(thread.repo_id, thread.readers.id, actor_id=world.reader.id)
    page = fdb.issues.comments.list(thread.repo_id, thread.number, viewer_id=world.reader.id)
    assert [(c.id, c.body) for c in page.items] == [
        (thread.readers.id, ""),
        (thread.writers.id, "the writer's"),
    ]
    assert page.next_cursor is None


def test_conversation_pages_join_up_through_tied_times(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with fdb.transaction() as tx:
        for n in range(5):
            tx.issues.comments.create(world.repo.id, 1, actor_id=world.owner.id, body=f"c{n}")
    for n in range(5, 7):
        _say(fdb, world.repo.id, issue.number, world.owner, f"c{n}")
    whole = fdb.issues.comments.list(world.repo.id, issue.number, limit=100).items
    assert [c.body for c in whole] == [f"c{n}" for n in range(7)]
    assert len({c.created_at for c in whole}) < len(whole)  # ties on the sort key
    paged = every_page(
        lambda cursor: fdb.issues.comments.list(world.repo.id, issue.number, limit=2, cursor=cursor)
    )
    assert paged == whole


def test_a_conversation_cursor_is_refused_by_another_issue(fdb: ForgeDB, world: World) -> None:
    for number in (1, 2):
        open_issue(fdb, world.repo, world.owner)
        for _ in range(2):
            _say(fdb, world.repo.id, number, world.owner)
    cursor = fdb.issues.comments.list(world.repo.id, 1, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.comments.list(world.repo.id, 2, limit=1, cursor=cursor)
    assert refused.value.field == "cursor"


def test_the_conversation_of_an_unknown_issue_is_empty(fdb: ForgeDB, world: World) -> None:
    assert fdb.issues.comments.list(world.repo.id, 3).items == []


# --- get ---------------------------------------------------------------------------------------


def test_get_returns_a_comment_with_its_reactions(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    comment = _say(fdb, world.repo.id, issue.number, world.owner)
    fdb.collaboration.reactions.toggle(
        world.repo.id, actor_id=world.reader.id, emoji="rocket", comment_id=comment.id
    )
    found = fdb.issues.comments.get(world.repo.id, comment.id)
    assert (found.id, found.body, found.reactions) == (comment.id, "hello", {"rocket": 1})


def test_get_of_a_deleted_comment_shows_its_tombstone(
    fdb: ForgeDB, world: World, thread: Thread
) -> None:
    tomb = fdb.issues.comments.delete(thread.repo_id, thread.readers.id, actor_id=world.reader.id)
    assert fdb.issues.comments.get(thread.repo_id, tomb.id, viewer_id=world.reader.id) == tomb


def test_get_of_an_unknown_comment_is_not_found(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(NotFound):
        fdb.issues.comments.get(world.repo.id, 12345)


# --- who may read and write ---------------------------------------------------------------------

# Each read, given (fdb, repository id, comment id, viewer id).
_READS: dict[str, Callable[[ForgeDB, int, int, int | None], Any]] = {
    "get": lambda fdb, r, c, v: fdb.issues.comments.get(r, c, viewer_id=v),
    "list": lambda fdb, r, c, v: fdb.issues.comments.list(r, 1, viewer_id=v).items,
}


@pytest.mark.parametrize("viewer", ["stranger", "anonymous"])
@pytest.mark.parametrize("read", sorted(_READS))
def test_a_private_conversation_is_hidden_from_those_who_cannot_read_it(
    fdb: ForgeDB, world: World, private_comment: Comment, read: str, viewer: str
) -> None:
    viewer_id = world.stranger.id if viewer == "stranger" else None
    if read == "get":
        with pytest.raises(NotFound):
            _READS[read](fdb, world.private.id, private_comment.id, viewer_id)
    else:
        assert _READS[read](fdb, world.private.id, private_comment.id, viewer_id) == []


@pytest.mark.parametrize("read", sorted(_READS))
def test_a_read_collaborator_sees_a_private_conversation(
    fdb: ForgeDB, world: World, private_comment: Comment, read: str
) -> None:
    seen = _READS[read](fdb, world.private.id, private_comment.id, world.reader.id)
    assert seen == _READS[read](fdb, world.private.id, private_comment.id, world.owner.id)
    assert seen in (private_comment, [private_comment])


@pytest.mark.parametrize("write", ["create", "update", "delete"])
def test_a_stranger_is_told_a_private_conversation_does_not_exist(
    fdb: ForgeDB, world: World, private_comment: Comment, conn: Conn, write: str
) -> None:
    actor = world.stranger.id
    with unchanged(conn), pytest.raises(NotFound):
        if write == "create":
            _say(fdb, world.private.id, 1, world.stranger)
        else:
            _BY_ID[write](fdb, world.private.id, private_comment.id, actor)
