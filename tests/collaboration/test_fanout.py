"""Notification fan-out: who is told about an event, and why.

The rules live in the schema's ``notification_recipients()``; every statement that notifies
stores what it returns through ``forge_db.collaboration.fanout.fan_out``. These tests look at
the rows stored (with the raw connection), not only at what ``notifications.list`` shows: the
read filters by access again, so a fan-out that skipped the check at write time would look the
same there until the user gained access.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from schema_factories import repository, user
from support import make_repository, make_user

from forge_db import ForgeDB
from forge_db.repositories import Repository
from forge_db.users import User

from .conftest import Stored, StoredFor

Conn = psycopg.Connection[Any]


def _reasons(stored: StoredFor, someone: User) -> list[str]:
    return [row.reason for row in stored(someone.id)]


def _private(db: ForgeDB) -> tuple[User, Repository]:
    owner = make_user(db)
    return owner, make_repository(db, owner, private=True)


# --- who is told -----------------------------------------------------------------------------


def test_a_mention_in_an_issue_notifies_the_mentioned_reader(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    owner, repo = _private(fdb)
    friend = make_user(fdb)
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=friend.id, role="read")
    issue = fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"cc @{friend.username}")
    assert stored(friend.id) == [Stored(friend.id, repo.id, issue.id, None, owner.id, "mention")]
    [note] = fdb.collaboration.notifications.list(viewer_id=friend.id).items
    assert (note.reason, note.issue_number, note.actor) == ("mention", 1, owner.username)


def test_a_mention_of_anyone_in_a_public_issue_notifies_them(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    owner, passer_by = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"@{passer_by.username}")
    assert _reasons(stored, passer_by) == ["mention"]


def test_a_mention_matches_the_username_case_insensitively(fdb: ForgeDB, stored: StoredFor) -> None:
    owner, friend = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"@{friend.username.upper()}")
    assert _reasons(stored, friend) == ["mention"]


def test_a_mention_inside_code_is_not_a_mention(fdb: ForgeDB, stored: StoredFor) -> None:
    owner, friend = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"see `@{friend.username}`")
    assert stored(friend.id) == []


def test_an_assignment_notifies_the_assignee(fdb: ForgeDB, stored: StoredFor) -> None:
    owner, first, second = make_user(fdb), make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    issue = fdb.issues.create(repo.id, actor_id=owner.id, title="t", assignees=[first.id])
    fdb.issues.assignees.add(repo.id, 1, actor_id=owner.id, user_ids=[second.id])
    assert stored(first.id) == [Stored(first.id, repo.id, issue.id, None, owner.id, "assign")]
    assert stored(second.id) == [Stored(second.id, repo.id, issue.id, None, owner.id, "assign")]


def test_a_new_issue_notifies_watchers_but_not_participants(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    owner, watcher, participant, bystander = (make_user(fdb) for _ in range(4))
    repo = make_repository(fdb, owner)
    fdb.collaboration.watches.set(repo.id, actor_id=watcher.id, level="watching")
    fdb.collaboration.watches.set(repo.id, actor_id=participant.id, level="participating")
    fdb.issues.create(repo.id, actor_id=owner.id, title="t")
    assert _reasons(stored, watcher) == ["subscribed"]
    assert stored(participant.id) == []
    assert stored(bystander.id) == []


def test_comments_notify_the_author_earlier_commenters_and_watchers_once_each(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    author, commenter, watcher, ignorer = (make_user(fdb) for _ in range(4))
    repo = make_repository(fdb, author)
    fdb.collaboration.watches.set(repo.id, actor_id=watcher.id, level="watching")
    fdb.collaboration.watches.set(repo.id, actor_id=ignorer.id, level="ignoring")
    issue = fdb.issues.create(repo.id, actor_id=author.id, title="t")
    first = fdb.issues.comments.create(
        repo.id, 1, actor_id=commenter.id, body=f"first, cc @{ignorer.username}"
    )
    second = fdb.issues.comments.create(repo.id, 1, actor_id=author.id, body="thanks")
    assert stored(author.id) == [
        Stored(author.id, repo.id, issue.id, first.id, commenter.id, "author")
    ]
    assert stored(commenter.id) == [
        Stored(commenter.id, repo.id, issue.id, second.id, author.id, "comment")
    ]
    assert _reasons(stored, watcher) == ["subscribed"] * 3
    assert stored(ignorer.id) == []


def test_an_edit_notifies_only_the_newly_mentioned(fdb: ForgeDB, stored: StoredFor) -> None:
    owner, early, late = make_user(fdb), make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"@{early.username}")
    fdb.issues.update(repo.id, 1, actor_id=owner.id, body=f"@{early.username} @{late.username}")
    comment = fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body=f"@{early.username}")
    fdb.issues.comments.update(
        repo.id, comment.id, actor_id=owner.id, body=f"@{early.username} @{late.username}"
    )
    assert _reasons(stored, early) == ["mention", "mention"]
    assert _reasons(stored, late) == ["mention", "mention"]
    assert [row.comment_id for row in stored(late.id)] == [None, comment.id]


# --- who is never told -----------------------------------------------------------------------


def test_a_stranger_mentioned_in_a_private_issue_gets_no_stored_notification(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    owner, repo = _private(fdb)
    stranger = make_user(fdb)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"hi @{stranger.username}")
    assert stored(stranger.id) == []


def test_a_stranger_mentioned_in_a_private_comment_gets_no_stored_notification(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    owner, repo = _private(fdb)
    stranger = make_user(fdb)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t")
    fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body=f"hi @{stranger.username}")
    assert stored(stranger.id) == []


def test_a_stranger_mentioned_in_private_edits_gets_no_stored_notification(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    owner, repo = _private(fdb)
    stranger = make_user(fdb)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t")
    comment = fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body="x")
    fdb.issues.update(repo.id, 1, actor_id=owner.id, body=f"@{stranger.username}")
    fdb.issues.comments.update(repo.id, comment.id, actor_id=owner.id, body=f"@{stranger.username}")
    assert stored(stranger.id) == []


def test_a_stranger_given_access_later_finds_no_notification_of_earlier_mentions(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    """The check happens when the notification is written, not only when it is read."""
    owner, repo = _private(fdb)
    stranger = make_user(fdb)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"@{stranger.username}")
    fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body=f"@{stranger.username}")
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=stranger.id, role="read")
    assert fdb.collaboration.notifications.list(viewer_id=stranger.id).items == []
    assert fdb.collaboration.notifications.unread_count(viewer_id=stranger.id) == 0
    assert stored(stranger.id) == []


def test_a_watcher_of_a_repository_that_turned_private_is_told_nothing_new(
    fdb: ForgeDB, stored: StoredFor
) -> None:
    owner, watcher = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.collaboration.watches.set(repo.id, actor_id=watcher.id, level="watching")
    before = fdb.issues.create(repo.id, actor_id=owner.id, title="while public")
    fdb.repositories.update(repo.id, actor_id=owner.id, private=True)
    fdb.issues.create(repo.id, actor_id=owner.id, title="while private")
    fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body="on the old one")
    assert [row.issue_id for row in stored(watcher.id)] == [before.id]
    fdb.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=watcher.id, role="read")
    [note] = fdb.collaboration.notifications.list(viewer_id=watcher.id).items
    assert note.issue_title == "while public"


def test_a_user_ignoring_the_repository_is_not_notified(fdb: ForgeDB, stored: StoredFor) -> None:
    owner, ignorer = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.collaboration.watches.set(repo.id, actor_id=ignorer.id, level="ignoring")
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"@{ignorer.username}")
    fdb.issues.comments.create(repo.id, 1, actor_id=ignorer.id, body="I was here")
    fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body=f"@{ignorer.username}")
    fdb.issues.assignees.add(repo.id, 1, actor_id=owner.id, user_ids=[ignorer.id])
    assert stored(ignorer.id) == []


def test_the_actor_is_never_notified_of_their_own_doing(fdb: ForgeDB, stored: StoredFor) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.collaboration.watches.set(repo.id, actor_id=owner.id, level="watching")
    fdb.issues.create(
        repo.id, actor_id=owner.id, title="t", body=f"@{owner.username}", assignees=[owner.id]
    )
    fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body=f"@{owner.username}")
    assert stored(owner.id) == []


def test_an_inactive_user_is_not_notified(fdb: ForgeDB, stored: StoredFor) -> None:
    owner, gone = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.collaboration.watches.set(repo.id, actor_id=gone.id, level="watching")
    fdb.issues.create(repo.id, actor_id=gone.id, title="by them before they left")
    fdb.users.deactivate(gone.id)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"@{gone.username}")
    fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body=f"@{gone.username}")
    assert stored(gone.id) == []


@pytest.mark.parametrize(
    ("standing", "reason"),
    [
        ({"mentioned", "author", "watching"}, "mention"),
        ({"assigned", "author", "commented", "watching"}, "assign"),
        ({"author", "commented", "watching"}, "author"),
        ({"commented", "watching"}, "comment"),
        ({"watching"}, "subscribed"),
    ],
)
def test_a_user_with_several_reasons_gets_one_row_with_the_most_specific(
    fdb: ForgeDB, stored: StoredFor, standing: set[str], reason: str
) -> None:
    owner, someone = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    author = someone if "author" in standing else owner
    fdb.issues.create(repo.id, actor_id=author.id, title="t")
    if "assigned" in standing:
        fdb.issues.assignees.add(repo.id, 1, actor_id=owner.id, user_ids=[someone.id])
    if "commented" in standing:
        fdb.issues.comments.create(repo.id, 1, actor_id=someone.id, body="earlier")
    if "watching" in standing:
        fdb.collaboration.watches.set(repo.id, actor_id=someone.id, level="watching")
    already = len(stored(someone.id))
    mention = f"@{someone.username}" if "mentioned" in standing else "no mention"
    comment = fdb.issues.comments.create(repo.id, 1, actor_id=owner.id, body=mention)
    rows = stored(someone.id)[already:]
    assert [(row.comment_id, row.reason) for row in rows] == [(comment.id, reason)]


# --- notification_recipients(), the schema's rule ---------------------------------------------


def _recipients(
    conn: Conn, repo: int, actor: int | None, candidates: list[tuple[int, str]]
) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT user_id, reason FROM notification_recipients(%s, %s, %s, %s) ORDER BY user_id",
        (repo, actor, [c[0] for c in candidates], [c[1] for c in candidates]),
    ).fetchall()
    return [(int(u), str(r)) for u, r in rows]


def test_recipients_keep_each_users_first_reason(conn: Conn) -> None:
    owner, a, b = user(conn), user(conn), user(conn)
    repo = repository(conn, owner)
    candidates = [(a, "mention"), (b, "assign"), (a, "assign"), (b, "subscribed")]
    assert _recipients(conn, repo, owner, candidates) == [(a, "mention"), (b, "assign")]
    assert _recipients(conn, repo, owner, candidates[::-1]) == [(a, "assign"), (b, "subscribed")]


def test_recipients_drop_the_actor_the_inactive_the_ignoring_and_those_who_cannot_read(
    conn: Conn,
) -> None:
    owner, reader, stranger, ignorer = user(conn), user(conn), user(conn), user(conn)
    inactive = user(conn, active=False)
    repo = repository(conn, owner, private=True)
    for member in (reader, ignorer, inactive):
        conn.execute(
            "INSERT INTO repository_collaborators (repository_id, user_id, role) "
            "VALUES (%s, %s, 'read')",
            (repo, member),
        )
    conn.execute(
        "INSERT INTO watches (user_id, repository_id, level) VALUES (%s, %s, 'ignoring')",
        (ignorer, repo),
    )
    everyone = [owner, reader, stranger, ignorer, inactive]
    candidates = [(u, "mention") for u in everyone]
    assert _recipients(conn, repo, owner, candidates) == [(reader, "mention")]
    assert _recipients(conn, repo, reader, candidates) == [(owner, "mention")]


def test_recipients_of_an_event_without_an_actor_drop_nobody_for_it(conn: Conn) -> None:
    owner, other = user(conn), user(conn)
    repo = repository(conn, owner)
    assert _recipients(conn, repo, None, [(owner, "security"), (other, "security")]) == [
        (owner, "security"),
        (other, "security"),
    ]


def test_recipients_of_a_public_repository_include_anyone_active(conn: Conn) -> None:
    owner, passer_by = user(conn), user(conn)
    repo = repository(conn, owner)
    assert _recipients(conn, repo, owner, [(passer_by, "mention")]) == [(passer_by, "mention")]
