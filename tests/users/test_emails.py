"""db.users.emails: a user's email addresses, through both APIs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from support import make_user

from forge_db import AlreadyExists, ForgeDB, InvalidInput, NotFound

Conn = psycopg.Connection[Any]
Snapshot = Callable[..., dict[str, list[tuple[Any, ...]]]]


def _primary_flags(fdb: ForgeDB, user_id: int) -> dict[int, bool]:
    return {e.id: e.is_primary for e in fdb.users.emails.list(user_id)}


# --- add ----------------------------------------------------------------------------------------


def test_add_stores_an_unverified_address_that_is_not_primary(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    address = fdb.users.emails.add(user.id, "One@Example.org")
    assert (address.user_id, address.email) == (user.id, "One@Example.org")
    assert (address.verified, address.verified_at, address.is_primary) == (False, None, False)
    assert fdb.users.emails.list(user.id) == [address]


def test_add_trims_surrounding_whitespace(fdb: ForgeDB) -> None:
    address = fdb.users.emails.add(make_user(fdb).id, "  padded@example.org\t")
    assert address.email == "padded@example.org"


def test_add_as_primary_demotes_the_previous_primary(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    first = fdb.users.emails.add(user.id, "one@example.org", primary=True)
    second = fdb.users.emails.add(user.id, "two@example.org", primary=True)
    assert second.is_primary
    assert _primary_flags(fdb, user.id) == {first.id: False, second.id: True}


def test_add_as_primary_leaves_other_users_primaries_alone(fdb: ForgeDB) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    theirs = fdb.users.emails.add(other.id, "theirs@example.org", primary=True)
    fdb.users.emails.add(owner.id, "mine@example.org", primary=True)
    assert _primary_flags(fdb, other.id) == {theirs.id: True}


def test_emails_are_unique_case_insensitively_across_users(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    first, second = make_user(fdb), make_user(fdb)
    fdb.users.emails.add(first.id, "shared@example.org")
    before = snapshot()
    with pytest.raises(AlreadyExists, match="already in use") as info:
        fdb.users.emails.add(second.id, "SHARED@example.org")
    assert info.value.constraint == "email_addresses_email_lower_key"
    assert snapshot() == before


def test_a_refused_primary_add_keeps_the_previous_primary(fdb: ForgeDB, snapshot: Snapshot) -> None:
    user, other = make_user(fdb), make_user(fdb)
    fdb.users.emails.add(user.id, "mine@example.org", primary=True)
    fdb.users.emails.add(other.id, "taken@example.org")
    before = snapshot()
    with pytest.raises(AlreadyExists):
        fdb.users.emails.add(user.id, "taken@example.org", primary=True)
    assert snapshot() == before


@pytest.mark.parametrize(
    "email", ["plain", "a@", "@b", "a b@c.d", "a@b@c", "x" * 300 + "@e.org", "nul\x00@e.org", None]
)
def test_malformed_email_is_invalid_input(fdb: ForgeDB, snapshot: Snapshot, email: Any) -> None:
    user = make_user(fdb)
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.users.emails.add(user.id, email)
    assert info.value.field == "email"
    assert snapshot() == before


@pytest.mark.parametrize("primary", ["yes", 1, None])
def test_primary_must_be_a_real_bool(fdb: ForgeDB, snapshot: Snapshot, primary: Any) -> None:
    user = make_user(fdb)
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.users.emails.add(user.id, "a@example.org", primary=primary)
    assert info.value.field == "primary"
    assert snapshot() == before


def test_add_for_a_missing_user_is_not_found(fdb: ForgeDB, snapshot: Snapshot) -> None:
    before = snapshot()
    with pytest.raises(NotFound, match="999999"):
        fdb.users.emails.add(999999, "ghost@example.org")
    assert snapshot() == before


# --- list ---------------------------------------------------------------------------------------


def test_list_puts_the_primary_first_then_the_order_added(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    first = fdb.users.emails.add(user.id, "a@example.org")
    second = fdb.users.emails.add(user.id, "b@example.org")
    primary = fdb.users.emails.add(user.id, "c@example.org", primary=True)
    third = fdb.users.emails.add(user.id, "d@example.org")
    listed = [e.id for e in fdb.users.emails.list(user.id)]
    assert listed == [primary.id, first.id, second.id, third.id]


def test_list_shows_only_that_users_addresses(fdb: ForgeDB) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    mine = fdb.users.emails.add(owner.id, "mine@example.org")
    fdb.users.emails.add(other.id, "theirs@example.org")
    assert fdb.users.emails.list(owner.id) == [mine]


def test_list_of_a_user_without_addresses_is_empty(fdb: ForgeDB) -> None:
    assert fdb.users.emails.list(make_user(fdb).id) == []


# --- verify -------------------------------------------------------------------------------------


def test_verify_marks_the_address_verified(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    address = fdb.users.emails.add(user.id, "v@example.org")
    verified = fdb.users.emails.verify(user.id, address.id)
    assert verified.verified is True
    assert verified.verified_at is not None
    assert fdb.users.emails.list(user.id) == [verified]


def test_verify_is_idempotent(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    address = fdb.users.emails.add(user.id, "v@example.org")
    once = fdb.users.emails.verify(user.id, address.id)
    twice = fdb.users.emails.verify(user.id, address.id)
    assert once.verified
    assert once.verified_at == twice.verified_at


def test_verify_of_another_users_address_is_not_found(fdb: ForgeDB, snapshot: Snapshot) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    address = fdb.users.emails.add(owner.id, "mine@example.org")
    before = snapshot()
    with pytest.raises(NotFound, match=f"email address {address.id} of user {other.id}"):
        fdb.users.emails.verify(other.id, address.id)
    assert snapshot() == before


def test_verify_of_a_missing_address_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound):
        fdb.users.emails.verify(make_user(fdb).id, 999999)


# --- set_primary --------------------------------------------------------------------------------


def test_set_primary_moves_the_primary_flag(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    first = fdb.users.emails.add(user.id, "one@example.org", primary=True)
    second = fdb.users.emails.add(user.id, "two@example.org")
    fdb.users.emails.verify(user.id, second.id)
    promoted = fdb.users.emails.set_primary(user.id, second.id)
    assert (promoted.id, promoted.is_primary) == (second.id, True)
    assert _primary_flags(fdb, user.id) == {first.id: False, second.id: True}


def test_set_primary_works_when_there_is_no_primary_yet(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    address = fdb.users.emails.add(user.id, "only@example.org")
    fdb.users.emails.verify(user.id, address.id)
    assert fdb.users.emails.set_primary(user.id, address.id).is_primary
    assert _primary_flags(fdb, user.id) == {address.id: True}


def test_set_primary_of_the_primary_keeps_it(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    address = fdb.users.emails.add(user.id, "p@example.org", primary=True)
    other = fdb.users.emails.add(user.id, "o@example.org")
    fdb.users.emails.verify(user.id, address.id)
    assert fdb.users.emails.set_primary(user.id, address.id).is_primary
    assert _primary_flags(fdb, user.id) == {address.id: True, other.id: False}


def test_set_primary_requires_a_verified_address(fdb: ForgeDB, snapshot: Snapshot) -> None:
    user = make_user(fdb)
    fdb.users.emails.add(user.id, "primary@example.org", primary=True)
    address = fdb.users.emails.add(user.id, "unverified@example.org")
    before = snapshot()
    with pytest.raises(NotFound, match="not verified"):
        fdb.users.emails.set_primary(user.id, address.id)
    assert snapshot() == before


def test_set_primary_of_another_users_address_is_not_found(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    fdb.users.emails.add(other.id, "theirs-primary@example.org", primary=True)
    address = fdb.users.emails.add(owner.id, "mine@example.org")
    fdb.users.emails.verify(owner.id, address.id)
    before = snapshot()
    with pytest.raises(NotFound):
        fdb.users.emails.set_primary(other.id, address.id)
    assert snapshot() == before


# --- remove -------------------------------------------------------------------------------------


def test_remove_deletes_an_address_that_is_not_primary(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    primary = fdb.users.emails.add(user.id, "p@example.org", primary=True)
    other = fdb.users.emails.add(user.id, "o@example.org")
    assert fdb.users.emails.remove(user.id, other.id) == other
    assert fdb.users.emails.list(user.id) == [primary]


def test_primary_cannot_be_removed_while_others_remain(fdb: ForgeDB, snapshot: Snapshot) -> None:
    user = make_user(fdb)
    primary = fdb.users.emails.add(user.id, "p@example.org", primary=True)
    fdb.users.emails.add(user.id, "o@example.org")
    before = snapshot()
    with pytest.raises(NotFound, match="primary"):
        fdb.users.emails.remove(user.id, primary.id)
    assert snapshot() == before


def test_the_last_address_can_be_removed_even_when_primary(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    primary = fdb.users.emails.add(user.id, "p@example.org", primary=True)
    assert fdb.users.emails.remove(user.id, primary.id).id == primary.id
    assert fdb.users.emails.list(user.id) == []


def test_a_removed_address_can_be_added_again(fdb: ForgeDB) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    address = fdb.users.emails.add(owner.id, "moving@example.org")
    fdb.users.emails.remove(owner.id, address.id)
    assert fdb.users.emails.add(other.id, "moving@example.org").user_id == other.id


def test_remove_of_another_users_address_is_not_found(fdb: ForgeDB, snapshot: Snapshot) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    address = fdb.users.emails.add(owner.id, "mine@example.org")
    before = snapshot()
    with pytest.raises(NotFound):
        fdb.users.emails.remove(other.id, address.id)
    assert snapshot() == before


def test_remove_of_a_missing_address_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound):
        fdb.users.emails.remove(make_user(fdb).id, 999999)
