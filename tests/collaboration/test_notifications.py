"""db.collaboration.notifications: a user's notifications, read and marked by them.

Who is notified, and why, is tested in test_fanout.py; here, what a user does with them.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput
from forge_db.collaboration import Notifications
from forge_db.query import operations
from forge_db.repositories import Repository

from .conftest import MISSING_ID, StoredFor, walk


def test_every_notification_operation_is_tried() -> None:
    assert set(operations(Notifications)) == {"list", "unread_count", "mark_read", "mark_all_read"}


class Team:
    """A private repository, its owner, and a friend with the read role there."""

    def __init__(self, db: ForgeDB) -> None:
        self.owner, self.friend = make_user(db), make_user(db)
        self.repo: Repository = make_repository(db, self.owner, private=True)
        db.repositories.collaborators.set(
            self.repo.id, actor_id=self.owner.id, user_id=self.friend.id, role="read"
        )

    def mention(self, db: ForgeDB, count: int = 1, repo: Repository | None = None) -> None:
        """``count`` issues by the owner, each mentioning the friend."""
        for n in range(count):
            db.issues.create(
                (repo or self.repo).id,
                actor_id=self.owner.id,
                title=f"t{n}",
                body=f"@{self.friend.username}",
            )


@pytest.fixture
def team(fdb: ForgeDB) -> Team:
    return Team(fdb)


def test_a_notification_says_what_happened_where_and_who_did_it(fdb: ForgeDB, team: Team) -> None:
    fdb.issues.create(
        team.repo.id, actor_id=team.owner.id, title="Crash", body=f"cc @{team.friend.username}"
    )
    [note] = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items
    assert (note.repository_id, note.repository) == (team.repo.id, team.repo.full_name)
    assert (note.issue_number, note.issue_title, note.comment_id) == (1, "Crash", None)
    assert (note.actor, note.reason, note.read_at) == (team.owner.username, "mention", None)


def test_a_comment_notification_names_the_comment(fdb: ForgeDB, team: Team) -> None:
    fdb.issues.create(team.repo.id, actor_id=team.owner.id, title="t")
    comment = fdb.issues.comments.create(
        team.repo.id, 1, actor_id=team.owner.id, body=f"@{team.friend.username} look"
    )
    [note] = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items
    assert (note.issue_number, note.comment_id, note.reason) == (1, comment.id, "mention")


def test_list_puts_the_newest_first_and_pages_with_a_cursor(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb, 3)
    first = fdb.collaboration.notifications.list(viewer_id=team.friend.id, limit=2)
    assert [n.issue_number for n in first.items] == [3, 2]
    rest = fdb.collaboration.notifications.list(
        viewer_id=team.friend.id, limit=2, cursor=first.next_cursor
    )
    assert [n.issue_number for n in rest.items] == [1]
    assert rest.next_cursor is None


def test_list_pages_join_to_the_whole_list_with_ties(fdb: ForgeDB, team: Team) -> None:
    with fdb.transaction() as tx:  # one transaction: every created_at is the same
        team.mention(tx, 6)  # type: ignore[arg-type]
    team.mention(fdb, 2)
    whole = fdb.collaboration.notifications.list(viewer_id=team.friend.id, limit=100).items
    paged = walk(
        lambda c: fdb.collaboration.notifications.list(viewer_id=team.friend.id, limit=3, cursor=c),
        3,
    )
    assert len(whole) == 8
    assert [n.id for n in paged] == [n.id for n in whole]


def test_list_holds_only_the_viewers_own_notifications(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb)
    assert fdb.collaboration.notifications.list(viewer_id=team.owner.id).items == []
    assert fdb.collaboration.notifications.unread_count(viewer_id=team.owner.id) == 0


def test_unread_only_lists_the_unread_ones(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb, 3)
    newest = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items[0]
    fdb.collaboration.notifications.mark_read(newest.id, actor_id=team.friend.id)
    unread = fdb.collaboration.notifications.list(viewer_id=team.friend.id, unread_only=True)
    assert [n.issue_number for n in unread.items] == [2, 1]
    everything = fdb.collaboration.notifications.list(viewer_id=team.friend.id)
    assert [n.read_at is None for n in everything.items] == [False, True, True]


def test_a_cursor_of_the_unread_list_is_refused_by_the_whole_list(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb, 2)
    cursor = fdb.collaboration.notifications.list(
        viewer_id=team.friend.id, unread_only=True, limit=1
    ).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.list(viewer_id=team.friend.id, limit=1, cursor=cursor)
    assert info.value.field == "cursor"


def test_a_cursor_of_another_users_notifications_is_refused(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb, 2)
    cursor = fdb.collaboration.notifications.list(viewer_id=team.friend.id, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.list(viewer_id=team.owner.id, limit=1, cursor=cursor)
    assert info.value.field == "cursor"


def test_notifications_need_a_viewer(fdb: ForgeDB) -> None:
    """Anonymous has no notifications: asking is a mistake, not an empty list."""
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.list(viewer_id=None)  # type: ignore[arg-type]
    assert info.value.field == "viewer_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.unread_count(viewer_id=None)  # type: ignore[arg-type]
    assert info.value.field == "viewer_id"


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_unread_only_must_be_a_real_bool(fdb: ForgeDB, team: Team, flag: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.list(viewer_id=team.friend.id, unread_only=flag)
    assert info.value.field == "unread_only"


# --- unread_count, mark_read, mark_all_read --------------------------------------------------


def test_unread_count_counts_the_unread_ones(fdb: ForgeDB, team: Team) -> None:
    assert fdb.collaboration.notifications.unread_count(viewer_id=team.friend.id) == 0
    team.mention(fdb, 3)
    assert fdb.collaboration.notifications.unread_count(viewer_id=team.friend.id) == 3
    newest = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items[0]
    fdb.collaboration.notifications.mark_read(newest.id, actor_id=team.friend.id)
    assert fdb.collaboration.notifications.unread_count(viewer_id=team.friend.id) == 2


def test_mark_read_marks_one_of_the_actors_own_once(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb, 2)
    newest, _ = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items
    mark = fdb.collaboration.notifications.mark_read
    assert mark(newest.id, actor_id=team.friend.id) is True
    assert mark(newest.id, actor_id=team.friend.id) is False
    [after, untouched] = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items
    assert after.read_at is not None
    assert untouched.read_at is None


def test_nobody_marks_someone_elses_notification_read(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb)
    [note] = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items
    assert fdb.collaboration.notifications.mark_read(note.id, actor_id=team.owner.id) is False
    assert fdb.collaboration.notifications.mark_all_read(actor_id=team.owner.id) == 0
    assert fdb.collaboration.notifications.unread_count(viewer_id=team.friend.id) == 1


def test_mark_read_of_a_missing_notification_is_false(fdb: ForgeDB, team: Team) -> None:
    assert fdb.collaboration.notifications.mark_read(MISSING_ID, actor_id=team.friend.id) is False


def test_mark_all_read_marks_every_unread_one(fdb: ForgeDB, team: Team) -> None:
    team.mention(fdb, 3)
    newest = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items[0]
    fdb.collaboration.notifications.mark_read(newest.id, actor_id=team.friend.id)
    assert fdb.collaboration.notifications.mark_all_read(actor_id=team.friend.id) == 2
    assert fdb.collaboration.notifications.unread_count(viewer_id=team.friend.id) == 0
    assert fdb.collaboration.notifications.mark_all_read(actor_id=team.friend.id) == 0
    assert len(fdb.collaboration.notifications.list(viewer_id=team.friend.id).items) == 3


def test_mark_all_read_of_one_repository_leaves_the_others_unread(fdb: ForgeDB, team: Team) -> None:
    elsewhere = make_repository(fdb, team.owner)
    team.mention(fdb, 2)
    team.mention(fdb, 1, repo=elsewhere)
    marked = fdb.collaboration.notifications.mark_all_read(
        actor_id=team.friend.id, repository_id=team.repo.id
    )
    assert marked == 2
    [left] = fdb.collaboration.notifications.list(viewer_id=team.friend.id, unread_only=True).items
    assert left.repository_id == elsewhere.id


@pytest.mark.parametrize("bad", [True, 0, 2**63, "1"])
def test_ids_that_are_not_positive_bigints_are_invalid_input(
    fdb: ForgeDB, team: Team, bad: Any
) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.mark_read(bad, actor_id=team.friend.id)
    assert info.value.field == "notification_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.mark_all_read(actor_id=team.friend.id, repository_id=bad)
    assert info.value.field == "repository_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.notifications.list(viewer_id=bad)
    assert info.value.field == "viewer_id"


# --- lost access -----------------------------------------------------------------------------


def test_notifications_of_a_repository_the_user_lost_access_to_disappear(
    fdb: ForgeDB, team: Team, stored: StoredFor
) -> None:
    elsewhere = make_repository(fdb, team.owner)
    team.mention(fdb, 2)
    team.mention(fdb, 1, repo=elsewhere)
    fdb.repositories.collaborators.delete(
        team.repo.id, actor_id=team.owner.id, user_id=team.friend.id
    )
    [left] = fdb.collaboration.notifications.list(viewer_id=team.friend.id).items
    assert left.repository_id == elsewhere.id
    assert fdb.collaboration.notifications.unread_count(viewer_id=team.friend.id) == 1
    assert len(stored(team.friend.id)) == 3  # hidden by the read, not deleted


def test_notifications_of_a_repository_that_turned_private_disappear_for_outsiders(
    fdb: ForgeDB,
) -> None:
    owner, outsider = make_user(fdb), make_user(fdb)
    repo: Repository = make_repository(fdb, owner)
    fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=f"@{outsider.username}")
    assert fdb.collaboration.notifications.unread_count(viewer_id=outsider.id) == 1
    fdb.repositories.update(repo.id, actor_id=owner.id, private=True)
    assert fdb.collaboration.notifications.list(viewer_id=outsider.id).items == []
    assert fdb.collaboration.notifications.unread_count(viewer_id=outsider.id) == 0


def test_notifications_of_a_deleted_repository_are_deleted_with_it(
    fdb: ForgeDB, team: Team, stored: StoredFor
) -> None:
    team.mention(fdb)
    fdb.repositories.delete(team.repo.id, actor_id=team.owner.id)
    assert fdb.collaboration.notifications.list(viewer_id=team.friend.id).items == []
    assert stored(team.friend.id) == []
