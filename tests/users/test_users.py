"""db.users: accounts: create, find, update, deactivate, through both APIs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from support import DOMAIN, Wallet, make_user

from forge_db import AlreadyExists, AuthenticationFailed, ForgeDB, InvalidInput, NotFound

Conn = psycopg.Connection[Any]
Snapshot = Callable[..., dict[str, list[tuple[Any, ...]]]]

# An EIP-55 reference address, and the same with one letter's case flipped.
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BROKEN_CHECKSUM = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def _sign_in(fdb: ForgeDB, wallet: Wallet) -> str:
    message = wallet.message(fdb.auth.create_siwe_nonce())
    return fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN).token


# --- create -------------------------------------------------------------------------------------


def test_create_returns_an_active_user_that_get_returns(fdb: ForgeDB) -> None:
    created = fdb.users.create(username="Alice-1", display_name="Alice")
    assert (created.username, created.display_name) == ("Alice-1", "Alice")
    assert created.wallet_address is None
    assert created.active is True
    assert fdb.users.get(created.id) == created


def test_create_with_email_makes_it_the_primary_unverified_address(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="mailer", email="Mailer@Example.org")
    [address] = fdb.users.emails.list(user.id)
    assert address.email == "Mailer@Example.org"
    assert address.is_primary
    assert not address.verified
    assert fdb.users.find_by_email("mailer@example.ORG") == user


def test_create_with_an_email_in_use_creates_no_user(fdb: ForgeDB, snapshot: Snapshot) -> None:
    fdb.users.create(username="first", email="shared@example.org")
    before = snapshot()
    with pytest.raises(AlreadyExists) as info:
        fdb.users.create(username="second", email="SHARED@example.org")
    assert info.value.constraint == "email_addresses_email_lower_key"
    assert snapshot() == before
    assert fdb.users.find_by_username("second") is None


def test_usernames_are_unique_case_insensitively(fdb: ForgeDB, snapshot: Snapshot) -> None:
    fdb.users.create(username="taken")
    before = snapshot()
    with pytest.raises(AlreadyExists) as info:
        fdb.users.create(username="TAKEN")
    assert info.value.constraint == "users_username_lower_key"
    assert "a user with this username" in str(info.value)
    assert snapshot() == before


@pytest.mark.parametrize(
    "name", ["", "-lead", "trail-", "dou--ble", "a" * 40, "sp ace", "ünï", "a_b", None, 7]
)
def test_bad_usernames_are_invalid_input(fdb: ForgeDB, snapshot: Snapshot, name: Any) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.users.create(username=name)
    assert info.value.field == "username"
    assert snapshot() == before


def test_wallet_usernames_are_reserved_for_their_wallet(fdb: ForgeDB, snapshot: Snapshot) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput, match="reserved"):
        fdb.users.create(username="eth-0123456789abcdef")
    assert snapshot() == before


def test_a_reserved_username_is_invalid_input_naming_the_username(fdb: ForgeDB) -> None:
    # Refused by the schema's CHECK, which the error translation does not tie to a parameter.
    with pytest.raises(InvalidInput) as info:
        fdb.users.create(username="eth-0123456789abcdef")
    assert info.value.field == "username"


def test_an_old_style_wallet_username_may_be_held_by_its_own_wallet(fdb: ForgeDB) -> None:
    wallet = "0x0123456789abcdef" + "2" * 24
    user = fdb.users.create(username="eth-0123456789abcdef", wallet_address=wallet)
    assert user.wallet_address == wallet


def test_wallet_is_stored_lowercase(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="walleted", wallet_address=CHECKSUMMED)
    assert user.wallet_address == CHECKSUMMED.lower()


@pytest.mark.parametrize(
    "spelling", [CHECKSUMMED, CHECKSUMMED.lower(), "0x" + CHECKSUMMED[2:].upper()]
)
def test_find_by_wallet_accepts_any_valid_spelling(fdb: ForgeDB, spelling: str) -> None:
    user = fdb.users.create(username="walleted", wallet_address=CHECKSUMMED)
    assert fdb.users.find_by_wallet(spelling) == user


def test_find_by_wallet_of_an_unknown_wallet_is_none(fdb: ForgeDB) -> None:
    fdb.users.create(username="walleted", wallet_address=CHECKSUMMED)
    assert fdb.users.find_by_wallet(Wallet().address) is None


def test_a_wallet_belongs_to_one_user(fdb: ForgeDB, snapshot: Snapshot) -> None:
    fdb.users.create(username="walleted", wallet_address=CHECKSUMMED)
    before = snapshot()
    with pytest.raises(AlreadyExists, match="wallet") as info:
        fdb.users.create(username="again", wallet_address=CHECKSUMMED.lower())
    assert info.value.constraint == "users_wallet_address_key"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("address", "complaint"),
    [
        (BROKEN_CHECKSUM, "checksum"),
        ("0x1234", "40 hex digits"),
        (CHECKSUMMED[2:], "40 hex digits"),
        ("0x" + "g" * 40, "40 hex digits"),
        ("", "40 hex digits"),
    ],
    ids=["broken-checksum", "short", "no-0x", "not-hex", "empty"],
)
def test_malformed_wallets_are_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot, address: str, complaint: str
) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput, match=complaint) as info:
        fdb.users.create(username="broken", wallet_address=address)
    assert info.value.field == "wallet_address"
    assert snapshot() == before


@pytest.mark.parametrize("display_name", ["x" * 256, "two\nlines", "nul\x00"])
def test_malformed_display_names_are_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot, display_name: str
) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.users.create(username="named", display_name=display_name)
    assert info.value.field == "display_name"
    assert snapshot() == before


@pytest.mark.parametrize("email", ["plain", "a@b@c", "x" * 300 + "@e.org"])
def test_create_with_a_malformed_email_is_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot, email: str
) -> None:
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.users.create(username="mailer", email=email)
    assert info.value.field == "email"
    assert snapshot() == before


# --- get and find -------------------------------------------------------------------------------


def test_get_of_a_missing_user_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound, match="user 999999 not found"):
        fdb.users.get(999999)


@pytest.mark.parametrize("user_id", [0, -1, 2**63, True, "1", None])
def test_get_refuses_what_is_not_an_id(fdb: ForgeDB, user_id: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.users.get(user_id)
    assert info.value.field == "user_id"


def test_find_by_username_ignores_case(fdb: ForgeDB) -> None:
    created = fdb.users.create(username="MixedCase")
    make_user(fdb)
    assert fdb.users.find_by_username("mixedcase") == created
    assert fdb.users.find_by_username("MIXEDCASE") == created


def test_find_by_username_of_nobody_is_none(fdb: ForgeDB) -> None:
    make_user(fdb)
    assert fdb.users.find_by_username("nobody") is None
    assert fdb.users.find_by_username("") is None


def test_find_by_email_finds_the_owner_of_any_of_their_addresses(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="mailer", email="main@example.org")
    fdb.users.emails.add(user.id, "Side@Example.org")
    make_user(fdb, email="someone@example.org")
    assert fdb.users.find_by_email("side@example.org") == user
    assert fdb.users.find_by_email("MAIN@example.org") == user


def test_find_by_email_of_an_unknown_address_is_none(fdb: ForgeDB) -> None:
    fdb.users.create(username="mailer", email="main@example.org")
    assert fdb.users.find_by_email("other@example.org") is None


# --- update_profile -----------------------------------------------------------------------------


def test_update_profile_changes_only_the_username_when_only_it_is_given(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="before", display_name="Before")
    renamed = fdb.users.update_profile(user.id, username="after")
    assert (renamed.username, renamed.display_name) == ("after", "Before")
    assert fdb.users.get(user.id) == renamed


def test_update_profile_changes_only_the_display_name_when_only_it_is_given(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="before", display_name="Before")
    renamed = fdb.users.update_profile(user.id, display_name="After")
    assert (renamed.username, renamed.display_name) == ("before", "After")


def test_update_profile_clears_the_display_name_given_none(fdb: ForgeDB) -> None:
    user = fdb.users.create(username="before", display_name="Before")
    cleared = fdb.users.update_profile(user.id, display_name=None)
    assert (cleared.username, cleared.display_name) == ("before", None)


def test_update_profile_moves_updated_at(fdb: ForgeDB, conn: Conn) -> None:
    user = fdb.users.create(username="before")
    conn.execute("UPDATE users SET updated_at = now() - interval '1 day' WHERE id = %s", (user.id,))
    stale = fdb.users.get(user.id).updated_at
    renamed = fdb.users.update_profile(user.id, username="after")
    assert renamed.updated_at > stale
    assert renamed.created_at == user.created_at


def test_update_profile_to_a_taken_username_changes_nothing(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    fdb.users.create(username="taken")
    user = fdb.users.create(username="mine", display_name="Mine")
    before = snapshot()
    with pytest.raises(AlreadyExists) as info:
        fdb.users.update_profile(user.id, username="Taken", display_name="Changed")
    assert info.value.constraint == "users_username_lower_key"
    assert snapshot() == before


def test_update_profile_to_a_bad_username_is_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    user = make_user(fdb)
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.users.update_profile(user.id, username="no spaces")
    assert info.value.field == "username"
    assert snapshot() == before


def test_update_profile_refuses_none_as_a_username(fdb: ForgeDB, snapshot: Snapshot) -> None:
    user = make_user(fdb)
    before = snapshot()
    with pytest.raises(InvalidInput) as info:
        fdb.users.update_profile(user.id, username=None)  # type: ignore[arg-type]
    assert info.value.field == "username"
    assert snapshot() == before


def test_update_profile_of_a_missing_user_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound, match="user 999999 not found"):
        fdb.users.update_profile(999999, username="ghost")


# --- deactivate and reactivate ------------------------------------------------------------------


def test_deactivate_marks_the_user_inactive(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    deactivated = fdb.users.deactivate(user.id)
    assert deactivated.active is False
    assert fdb.users.get(user.id) == deactivated


def test_deactivate_revokes_every_session_and_token_of_that_user_only(
    fdb: ForgeDB, conn: Conn
) -> None:
    wallet, bystander = Wallet(), Wallet()
    first, second = _sign_in(fdb, wallet), _sign_in(fdb, wallet)
    kept = _sign_in(fdb, bystander)
    user = fdb.users.find_by_wallet(wallet.address)
    other = fdb.users.find_by_wallet(bystander.address)
    assert user is not None
    assert other is not None
    fdb.auth.tokens.create(user.id, name="ci", scopes=["repo:read"])
    fdb.auth.tokens.create(other.id, name="ci", scopes=["repo:read"])
    fdb.users.deactivate(user.id)
    revoked = conn.execute(
        "SELECT user_id, count(*) FILTER (WHERE revoked_at IS NOT NULL), count(*)"
        " FROM (SELECT user_id, revoked_at FROM auth_sessions"
        "       UNION ALL SELECT user_id, revoked_at FROM access_tokens) AS t"
        " GROUP BY user_id ORDER BY user_id"
    ).fetchall()
    assert revoked == [(user.id, 3, 3), (other.id, 0, 2)]
    for token in (first, second):
        with pytest.raises(AuthenticationFailed):
            fdb.auth.get_session(token)
    assert fdb.auth.get_session(kept).user.id == other.id


def test_deactivate_of_a_missing_user_is_not_found(fdb: ForgeDB, snapshot: Snapshot) -> None:
    make_user(fdb)
    before = snapshot()
    with pytest.raises(NotFound, match="user 999999 not found"):
        fdb.users.deactivate(999999)
    assert snapshot() == before


def test_reactivate_lets_the_user_sign_in_again(fdb: ForgeDB) -> None:
    wallet = Wallet()
    user = fdb.users.create(username="back", wallet_address=wallet.address)
    fdb.users.deactivate(user.id)
    assert fdb.users.reactivate(user.id).active is True
    assert fdb.auth.get_session(_sign_in(fdb, wallet)).user.id == user.id


def test_reactivate_leaves_old_sessions_and_tokens_revoked(fdb: ForgeDB) -> None:
    wallet = Wallet()
    old_session = _sign_in(fdb, wallet)
    user = fdb.users.find_by_wallet(wallet.address)
    assert user is not None
    old_token = fdb.auth.tokens.create(user.id, name="ci", scopes=["repo:read"]).token
    fdb.users.deactivate(user.id)
    fdb.users.reactivate(user.id)
    with pytest.raises(AuthenticationFailed) as session_refusal:
        fdb.auth.get_session(old_session)
    assert session_refusal.value.reason == "session_invalid"
    with pytest.raises(AuthenticationFailed) as token_refusal:
        fdb.auth.tokens.verify(old_token, "repo:read")
    assert token_refusal.value.reason == "token_revoked"


def test_reactivate_of_a_missing_user_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound, match="user 999999 not found"):
        fdb.users.reactivate(999999)
