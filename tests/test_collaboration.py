"""db.collaboration: reactions, notifications, stars, watches, messages."""

from __future__ import annotations

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput, NotFound, PermissionDenied


def test_reactions_toggle_and_are_counted(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    issue = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t")
    assert (
        fdb.collaboration.toggle_reaction(repo.id, actor_id=fan.id, emoji="heart", issue_number=1)
        is True
    )
    assert (
        fdb.collaboration.toggle_reaction(repo.id, actor_id=owner.id, emoji="heart", issue_number=1)
        is True
    )
    assert (
        fdb.collaboration.toggle_reaction(repo.id, actor_id=fan.id, emoji="+1", issue_number=1)
        is True
    )
    assert fdb.issues.get(repo.id, issue.number).reactions == {"heart": 2, "+1": 1}
    assert (
        fdb.collaboration.toggle_reaction(repo.id, actor_id=fan.id, emoji="heart", issue_number=1)
        is False
    )
    assert fdb.issues.get(repo.id, issue.number).reactions == {"heart": 1, "+1": 1}
    comment = fdb.issues.add_comment(repo.id, 1, author_id=owner.id, body="hello")
    assert (
        fdb.collaboration.toggle_reaction(
            repo.id, actor_id=fan.id, emoji="rocket", comment_id=comment.id
        )
        is True
    )
    assert fdb.issues.get_comment(repo.id, comment.id).reactions == {"rocket": 1}
    assert fdb.issues.list_comments(repo.id, 1).items[0].reactions == {"rocket": 1}


def test_reaction_emoji_and_target_are_checked(fdb: ForgeDB) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t")
    with pytest.raises(InvalidInput, match="emoji"):
        fdb.collaboration.toggle_reaction(repo.id, actor_id=owner.id, emoji="poop", issue_number=1)
    with pytest.raises(InvalidInput):
        fdb.collaboration.toggle_reaction(repo.id, actor_id=owner.id, emoji="eyes")
    with pytest.raises(NotFound):
        fdb.collaboration.toggle_reaction(repo.id, actor_id=owner.id, emoji="eyes", issue_number=42)


def test_mentions_and_assignments_notify_people_who_can_read(fdb: ForgeDB) -> None:
    owner, friend, stranger = make_user(fdb), make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner, private=True)
    fdb.repositories.set_collaborator(repo.id, actor_id=owner.id, user_id=friend.id, role="read")
    fdb.issues.create(
        repository_id=repo.id,
        author_id=owner.id,
        title="t",
        body=f"cc @{friend.username} @{stranger.username} `@{owner.username}`",
    )
    [note] = fdb.collaboration.list_notifications(friend.id).items
    assert (note.reason, note.issue_number, note.actor) == ("mention", 1, owner.username)
    assert fdb.collaboration.list_notifications(stranger.id).items == []
    assert fdb.collaboration.list_notifications(owner.id).items == []


def test_comments_notify_participants_and_watchers_once(fdb: ForgeDB) -> None:
    author, commenter, watcher, ignorer = (make_user(fdb) for _ in range(4))
    repo = make_repository(fdb, author)
    fdb.collaboration.set_watch(watcher.id, repo.id, "watching")
    fdb.collaboration.set_watch(ignorer.id, repo.id, "ignoring")
    fdb.issues.create(repository_id=repo.id, author_id=author.id, title="t")
    fdb.issues.add_comment(
        repo.id, 1, author_id=commenter.id, body=f"first, cc @{ignorer.username}"
    )
    fdb.issues.add_comment(repo.id, 1, author_id=author.id, body="thanks")
    assert [n.reason for n in fdb.collaboration.list_notifications(author.id).items] == ["author"]
    assert [n.reason for n in fdb.collaboration.list_notifications(commenter.id).items] == [
        "comment"
    ]
    assert [n.reason for n in fdb.collaboration.list_notifications(watcher.id).items] == [
        "subscribed"
    ] * 3
    assert fdb.collaboration.list_notifications(ignorer.id).items == []


def test_notifications_read_unread_and_lost_access(fdb: ForgeDB) -> None:
    owner, friend = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner, private=True)
    fdb.repositories.set_collaborator(repo.id, actor_id=owner.id, user_id=friend.id, role="read")
    for n in range(3):
        fdb.issues.create(
            repository_id=repo.id, author_id=owner.id, title=f"t{n}", body=f"@{friend.username}"
        )
    assert fdb.collaboration.unread_notification_count(friend.id) == 3
    first = fdb.collaboration.list_notifications(friend.id, limit=2)
    assert len(first.items) == 2
    rest = fdb.collaboration.list_notifications(friend.id, limit=2, cursor=first.next_cursor)
    assert [n.issue_number for n in first.items + rest.items] == [3, 2, 1]
    assert fdb.collaboration.mark_notification_read(friend.id, first.items[0].id) is True
    assert fdb.collaboration.mark_notification_read(owner.id, first.items[1].id) is False
    assert len(fdb.collaboration.list_notifications(friend.id, unread_only=True).items) == 2
    assert fdb.collaboration.mark_all_notifications_read(friend.id) == 2
    fdb.repositories.remove_collaborator(repo.id, actor_id=owner.id, user_id=friend.id)
    assert fdb.collaboration.list_notifications(friend.id).items == []


def test_stars_toggle_count_and_list(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    public, private = make_repository(fdb, owner), make_repository(fdb, owner, private=True)
    assert fdb.collaboration.toggle_star(fan.id, public.id) is True
    assert fdb.collaboration.toggle_star(owner.id, public.id) is True
    assert fdb.collaboration.star_count(public.id) == 2
    assert fdb.collaboration.toggle_star(owner.id, public.id) is False
    assert fdb.collaboration.star_count(public.id) == 1
    with pytest.raises(NotFound):
        fdb.collaboration.toggle_star(fan.id, private.id)
    fdb.collaboration.toggle_star(owner.id, private.id)
    assert [r.id for r in fdb.collaboration.list_starred(owner.id, viewer_id=owner.id).items] == [
        private.id
    ]
    assert fdb.collaboration.list_starred(owner.id, viewer_id=fan.id).items == []


def test_watch_levels(fdb: ForgeDB) -> None:
    owner, user = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    assert fdb.collaboration.get_watch(user.id, repo.id) == "participating"
    assert fdb.collaboration.set_watch(user.id, repo.id, "watching") == "watching"
    assert fdb.collaboration.get_watch(user.id, repo.id) == "watching"
    with pytest.raises(InvalidInput):
        fdb.collaboration.set_watch(user.id, repo.id, "stalking")  # type: ignore[arg-type]


def test_direct_messages(fdb: ForgeDB) -> None:
    alice, bob, carol = make_user(fdb), make_user(fdb), make_user(fdb)
    for n in range(3):
        fdb.collaboration.send_message(alice.id, bob.id, f"hi {n}")
    fdb.collaboration.send_message(bob.id, alice.id, "hello")
    fdb.collaboration.send_message(carol.id, bob.id, "other conversation")
    page = fdb.collaboration.list_conversation(bob.id, alice.id, limit=3)
    assert [m.body for m in page.items] == ["hello", "hi 2", "hi 1"]
    # The cursor belongs to the conversation, whichever side asks for the next page.
    rest = fdb.collaboration.list_conversation(alice.id, bob.id, cursor=page.next_cursor, limit=3)
    assert [m.body for m in rest.items] == ["hi 0"]
    assert rest.next_cursor is None
    assert fdb.collaboration.unread_message_count(bob.id) == 4
    assert fdb.collaboration.mark_conversation_read(bob.id, alice.id) == 3
    assert fdb.collaboration.unread_message_count(bob.id) == 1
    with pytest.raises(InvalidInput):
        fdb.collaboration.send_message(alice.id, alice.id, "me")
    with pytest.raises(InvalidInput):
        fdb.collaboration.send_message(alice.id, bob.id, "   ")


def test_reacting_on_a_locked_issue_needs_write(fdb: ForgeDB) -> None:
    owner, fan = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t")
    fdb.issues.set_locked(repo.id, 1, actor_id=owner.id, locked=True)
    with pytest.raises(PermissionDenied):
        fdb.collaboration.toggle_reaction(repo.id, actor_id=fan.id, emoji="eyes", issue_number=1)
