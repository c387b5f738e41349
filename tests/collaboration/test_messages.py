"""db.collaboration.messages: direct messages between two users."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_user

from forge_db import ForgeDB, InvalidInput, NotFound
from forge_db.collaboration import Messages
from forge_db.query import operations

from .conftest import MISSING_ID, Snapshot, walk


def test_every_message_operation_is_tried() -> None:
    assert set(operations(Messages)) == {"send", "list", "unread_count", "mark_read"}


# --- send ------------------------------------------------------------------------------------


def test_send_stores_an_unread_message(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    sent = fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body="hi")
    assert (sent.sender_id, sent.recipient_id, sent.body, sent.read_at) == (
        alice.id,
        bob.id,
        "hi",
        None,
    )
    assert fdb.collaboration.messages.list(alice.id, viewer_id=bob.id).items == [sent]


def test_a_message_to_oneself_is_invalid_input(fdb: ForgeDB, snapshot: Snapshot) -> None:
    alice = make_user(fdb)
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=alice.id, body="me")
    assert info.value.field == "recipient_id"
    assert snapshot() == before


@pytest.mark.parametrize("body", ["", "   ", "\t\n", "x" * 65537, "nul\x00", "\ud800", None])
def test_a_blank_or_bad_body_is_invalid_input(fdb: ForgeDB, snapshot: Snapshot, body: Any) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body=body)
    assert info.value.field == "body"
    assert snapshot() == before


@pytest.mark.parametrize(
    "body", ["  padded  ", "مرحبا", "e\u0301", "🚀", "'; DROP TABLE messages; --", "%s {} $1"]
)
def test_a_body_round_trips_unchanged(fdb: ForgeDB, body: str) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body=body)
    [stored] = fdb.collaboration.messages.list(alice.id, viewer_id=bob.id).items
    assert stored.body == body


def test_a_message_to_an_inactive_or_unknown_user_is_not_found(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    alice, gone = make_user(fdb), make_user(fdb)
    fdb.users.deactivate(gone.id)
    before = snapshot()
    for recipient in (gone.id, MISSING_ID):
        with pytest.raises(NotFound, match="not active"):
            fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=recipient, body="hi")
    assert snapshot() == before


def test_an_inactive_user_cannot_send(fdb: ForgeDB, snapshot: Snapshot) -> None:
    gone, bob = make_user(fdb), make_user(fdb)
    fdb.users.deactivate(gone.id)
    before = snapshot()
    with pytest.raises(NotFound, match="not active"):
        fdb.collaboration.messages.send(actor_id=gone.id, recipient_id=bob.id, body="hi")
    assert snapshot() == before


@pytest.mark.parametrize("bad", [True, 0, 2**63, "1"])
def test_ids_that_are_not_positive_bigints_are_invalid_input(fdb: ForgeDB, bad: Any) -> None:
    alice = make_user(fdb)
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bad, body="hi")
    assert info.value.field == "recipient_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.messages.list(bad, viewer_id=alice.id)
    assert info.value.field == "other_id"
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.messages.mark_read(alice.id, actor_id=bad)
    assert info.value.field == "actor_id"


# --- list ------------------------------------------------------------------------------------


def test_a_conversation_holds_both_directions_newest_first(fdb: ForgeDB) -> None:
    alice, bob, carol = make_user(fdb), make_user(fdb), make_user(fdb)
    send = fdb.collaboration.messages.send
    for n in range(3):
        send(actor_id=alice.id, recipient_id=bob.id, body=f"hi {n}")
    send(actor_id=bob.id, recipient_id=alice.id, body="hello")
    send(actor_id=carol.id, recipient_id=bob.id, body="other conversation")
    send(actor_id=alice.id, recipient_id=carol.id, body="yet another")
    page = fdb.collaboration.messages.list(alice.id, viewer_id=bob.id, limit=3)
    assert [m.body for m in page.items] == ["hello", "hi 2", "hi 1"]
    # The cursor belongs to the conversation, whichever side asks for the next page.
    rest = fdb.collaboration.messages.list(bob.id, viewer_id=alice.id, cursor=page.next_cursor)
    assert [m.body for m in rest.items] == ["hi 0"]
    assert rest.next_cursor is None


def test_a_conversation_is_the_same_from_either_side(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body="a")
    fdb.collaboration.messages.send(actor_id=bob.id, recipient_id=alice.id, body="b")
    assert (
        fdb.collaboration.messages.list(alice.id, viewer_id=bob.id).items
        == fdb.collaboration.messages.list(bob.id, viewer_id=alice.id).items
    )


def test_a_third_user_sees_nothing_of_a_conversation(fdb: ForgeDB) -> None:
    alice, bob, carol = make_user(fdb), make_user(fdb), make_user(fdb)
    fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body="private")
    assert fdb.collaboration.messages.list(alice.id, viewer_id=carol.id).items == []
    assert fdb.collaboration.messages.list(bob.id, viewer_id=carol.id).items == []


def test_a_cursor_of_another_conversation_is_refused(fdb: ForgeDB) -> None:
    alice, bob, carol = make_user(fdb), make_user(fdb), make_user(fdb)
    for _ in range(2):
        fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body="x")
        fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=carol.id, body="y")
    cursor = fdb.collaboration.messages.list(alice.id, viewer_id=bob.id, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput) as info:
        fdb.collaboration.messages.list(alice.id, viewer_id=carol.id, limit=1, cursor=cursor)
    assert info.value.field == "cursor"


def test_conversation_pages_join_to_the_whole_conversation_with_ties(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    with fdb.transaction() as tx:  # one transaction: every created_at is the same
        for n in range(6):
            tx.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body=f"{n}")
    for n in range(6, 8):
        fdb.collaboration.messages.send(actor_id=bob.id, recipient_id=alice.id, body=f"{n}")
    whole = fdb.collaboration.messages.list(alice.id, viewer_id=bob.id, limit=100).items
    paged = walk(
        lambda c: fdb.collaboration.messages.list(alice.id, viewer_id=bob.id, limit=3, cursor=c),
        3,
    )
    assert len(whole) == 8
    assert [m.id for m in paged] == [m.id for m in whole]


# --- unread_count, mark_read -----------------------------------------------------------------


def test_unread_count_counts_messages_to_the_viewer_only(fdb: ForgeDB) -> None:
    alice, bob, carol = make_user(fdb), make_user(fdb), make_user(fdb)
    for n in range(3):
        fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body=f"{n}")
    fdb.collaboration.messages.send(actor_id=carol.id, recipient_id=bob.id, body="c")
    fdb.collaboration.messages.send(actor_id=bob.id, recipient_id=alice.id, body="b")
    assert fdb.collaboration.messages.unread_count(viewer_id=bob.id) == 4
    assert fdb.collaboration.messages.unread_count(viewer_id=alice.id) == 1
    assert fdb.collaboration.messages.unread_count(viewer_id=carol.id) == 0


def test_mark_read_marks_what_one_sender_sent_to_the_actor(fdb: ForgeDB) -> None:
    alice, bob, carol = make_user(fdb), make_user(fdb), make_user(fdb)
    for n in range(3):
        fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body=f"{n}")
    fdb.collaboration.messages.send(actor_id=carol.id, recipient_id=bob.id, body="c")
    fdb.collaboration.messages.send(actor_id=bob.id, recipient_id=alice.id, body="b")
    assert fdb.collaboration.messages.mark_read(alice.id, actor_id=bob.id) == 3
    assert fdb.collaboration.messages.unread_count(viewer_id=bob.id) == 1
    assert fdb.collaboration.messages.unread_count(viewer_id=alice.id) == 1
    conversation = fdb.collaboration.messages.list(alice.id, viewer_id=bob.id).items
    assert [m.read_at is None for m in conversation] == [True, False, False, False]
    assert fdb.collaboration.messages.mark_read(alice.id, actor_id=bob.id) == 0


def test_a_sender_cannot_mark_their_own_messages_read(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    fdb.collaboration.messages.send(actor_id=alice.id, recipient_id=bob.id, body="hi")
    assert fdb.collaboration.messages.mark_read(bob.id, actor_id=alice.id) == 0
    assert fdb.collaboration.messages.unread_count(viewer_id=bob.id) == 1
