"""db.users: accounts and email addresses, through both APIs."""

from __future__ import annotations

import psycopg
import pytest
from support import Wallet, make_user

from forge_db import AlreadyExists, ForgeDB, InvalidInput, NotFound


def test_create_and_get_a_user(fdb: ForgeDB) -> None:
    created = fdb.users.create(username="Alice-1", display_name="Alice")
    assert created.username == "Alice-1"
    assert created.active is True
    assert fdb.users.get(created.id) == created


def test_find_by_username_ignores_case(fdb: ForgeDB) -> None:
    created = fdb.users.create(username="MixedCase")
    assert fdb.users.find_by_username("mixedcase") == created
    assert fdb.users.find_by_username("nobody") is None


def test_usernames_are_unique_case_insensitively(fdb: ForgeDB) -> None:
    fdb.users.create(username="taken")
    with pytest.raises(AlreadyExists) as info:
        fdb.users.create(username="TAKEN")
    assert info.value.constraint == "users_username_lower_key"
    assert "a user with this username" in str(info.value)


@pytest.mark.parametrize(
    "name", ["", "-lead", "trail-", "dou--ble", "a" * 40, "sp ace", "ünï", "a_b"]
)
def test_bad_usernames_are_invalid_input(fdb: ForgeDB, name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.users.create(username=name)
    assert info.value.field == "username"


def test_wallet_usernames_are_reserved_for_their_wallet(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput, match="reserved"):
        fdb.users.create(username="eth-0123456789abcdef")


def test_wallet_is_stored_canonically_and_found_by_any_spelling(fdb: ForgeDB) -> None:
    wallet = Wallet()
    user = fdb.users.create(username="walleted", wallet_address=wallet.address)
    assert user.wallet_address == wallet.address.lower()
    assert fdb.users.find_by_wallet(wallet.address) == user
    assert fdb.users.find_by_wallet(wallet.address.lower()) == user
    with pytest.raises(AlreadyExists, match="wallet"):
        fdb.users.create(username="again", wallet_address=wallet.address.lower())


def test_wallet_with_a_broken_checksum_is_refused(fdb: ForgeDB) -> None:
    address = Wallet().address
    index = next(i for i in range(2, 42) if address[i].isalpha())
    flipped = address[:index] + address[index].swapcase() + address[index + 1 :]
    with pytest.raises(InvalidInput, match="checksum"):
        fdb.users.create(username="broken", wallet_address=flipped)


def test_get_of_a_missing_user_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound, match="user 999999 not found"):
        fdb.users.get(999999)


def test_update_profile_changes_only_what_is_given(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="before", display_name="Before")
    renamed = fdb.users.update_profile(user.id, username="after")
    assert (renamed.username, renamed.display_name) == ("after", "Before")
    cleared = fdb.users.update_profile(user.id, display_name=None)
    assert (cleared.username, cleared.display_name) == ("after", None)
    assert cleared.updated_at >= user.updated_at


def test_create_with_email_makes_it_primary(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="mailer", email="Mailer@Example.org")
    [address] = fdb.users.list_emails(user.id)
    assert address.email == "Mailer@Example.org"
    assert address.is_primary
    assert not address.verified
    assert fdb.users.find_by_email("mailer@example.ORG") == user


def test_emails_are_unique_case_insensitively_across_users(fdb: ForgeDB) -> None:
    first, second = make_user(fdb), make_user(fdb)
    fdb.users.add_email(first.id, "shared@example.org")
    with pytest.raises(AlreadyExists, match="already in use"):
        fdb.users.add_email(second.id, "SHARED@example.org")


def test_set_primary_moves_the_primary_flag(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    first = fdb.users.add_email(user.id, "one@example.org", primary=True)
    second = fdb.users.add_email(user.id, "two@example.org")
    fdb.users.verify_email(user.id, second.id)
    promoted = fdb.users.set_primary_email(user.id, second.id)
    assert promoted.is_primary
    flags = {e.id: e.is_primary for e in fdb.users.list_emails(user.id)}
    assert flags == {first.id: False, second.id: True}


def test_set_primary_requires_a_verified_address(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    address = fdb.users.add_email(user.id, "unverified@example.org")
    with pytest.raises(NotFound, match="not verified"):
        fdb.users.set_primary_email(user.id, address.id)


def test_verify_is_idempotent(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    address = fdb.users.add_email(user.id, "v@example.org")
    once = fdb.users.verify_email(user.id, address.id)
    twice = fdb.users.verify_email(user.id, address.id)
    assert once.verified
    assert once.verified_at == twice.verified_at


def test_primary_cannot_be_removed_while_others_remain(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    primary = fdb.users.add_email(user.id, "p@example.org", primary=True)
    other = fdb.users.add_email(user.id, "o@example.org")
    with pytest.raises(NotFound, match="primary"):
        fdb.users.remove_email(user.id, primary.id)
    assert fdb.users.remove_email(user.id, other.id).id == other.id
    assert fdb.users.remove_email(user.id, primary.id).id == primary.id
    assert fdb.users.list_emails(user.id) == []


def test_email_of_another_user_cannot_be_touched(fdb: ForgeDB) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    address = fdb.users.add_email(owner.id, "mine@example.org")
    with pytest.raises(NotFound):
        fdb.users.verify_email(other.id, address.id)
    with pytest.raises(NotFound):
        fdb.users.remove_email(other.id, address.id)


@pytest.mark.parametrize("email", ["plain", "a@", "@b", "a b@c.d", "a@b@c", "x" * 300 + "@e.org"])
def test_malformed_email_is_invalid_input(fdb: ForgeDB, email: str) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.users.add_email(make_user(fdb).id, email)
    assert info.value.field == "email"


def test_one_primary_email_is_enforced_by_the_database(
    db: ForgeDB, conn: psycopg.Connection
) -> None:
    user = make_user(db)
    db.users.add_email(user.id, "a@example.org", primary=True)
    with pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute(
            "INSERT INTO email_addresses (user_id, email, is_primary) VALUES (%s, 'b@example.org', true)",
            (user.id,),
        )
