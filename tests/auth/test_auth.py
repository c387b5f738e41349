"""db.auth: Sign-In with Ethereum nonces, sign-in, and the sessions it opens, through both APIs."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from support import DOMAIN, Wallet, make_user

from forge_db import AuthenticationFailed, ForgeDB, InvalidInput
from forge_db.auth import SignIn

Conn = psycopg.Connection[Any]
Snapshot = Callable[..., dict[str, list[tuple[Any, ...]]]]
SignInFn = Callable[..., SignIn]
Together = Callable[[Sequence[Callable[[], Any]]], list[Any]]


def _refused(
    fdb: ForgeDB,
    snapshot: Snapshot,
    message: Any,
    signature: Any,
    reason: str,
    *,
    domain: str = DOMAIN,
    **options: Any,
) -> None:
    """The sign-in is refused with ``reason``, and no row changed (no user, session or nonce)."""
    before = snapshot()
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.sign_in_with_ethereum(message, signature, domain=domain, **options)
    assert info.value.reason == reason
    assert snapshot() == before, "a refused sign-in changed the database"


def _clock() -> datetime:
    """A whole-second 'now' to pass as ``now=``, so validity windows are judged exactly."""
    return datetime.now(UTC).replace(microsecond=0)


# --- nonces ------------------------------------------------------------------------------------


def test_nonce_is_long_alphanumeric_unbound_and_lives_ten_minutes(fdb: ForgeDB, conn: Conn) -> None:
    nonce = fdb.auth.create_siwe_nonce()
    assert len(nonce) >= 16
    assert nonce.isascii()
    assert nonce.isalnum()
    row = conn.execute(
        "SELECT domain, address, consumed_at, expires_at - created_at FROM siwe_nonces"
        " WHERE nonce = %s",
        (nonce,),
    ).fetchone()
    assert row == (None, None, None, timedelta(minutes=10))


def test_nonce_records_its_domain_and_wallet_bindings(fdb: ForgeDB, conn: Conn) -> None:
    wallet = Wallet()
    nonce = fdb.auth.create_siwe_nonce(domain=DOMAIN, address=wallet.address)
    row = conn.execute(
        "SELECT domain, address FROM siwe_nonces WHERE nonce = %s", (nonce,)
    ).fetchone()
    assert row == (DOMAIN, wallet.address.lower())


def test_nonce_ttl_sets_its_lifetime(fdb: ForgeDB, conn: Conn) -> None:
    nonce = fdb.auth.create_siwe_nonce(ttl=timedelta(seconds=90))
    row = conn.execute(
        "SELECT expires_at - created_at FROM siwe_nonces WHERE nonce = %s", (nonce,)
    ).fetchone()
    assert row == (timedelta(seconds=90),)


def test_nonces_differ(fdb: ForgeDB) -> None:
    assert len({fdb.auth.create_siwe_nonce() for _ in range(20)}) == 20


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"ttl": timedelta(0)}, "ttl"),
        ({"ttl": timedelta(seconds=-1)}, "ttl"),
        ({"ttl": timedelta(days=3661)}, "ttl"),
        ({"ttl": 600}, "ttl"),
        ({"domain": ""}, "domain"),
        ({"domain": "forge.example\nevil.example"}, "domain"),
        ({"address": "0x1234"}, "address"),
        # An EIP-55 reference address with one letter's case flipped.
        ({"address": "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, "address"),
    ],
    ids=[
        "ttl-zero",
        "ttl-negative",
        "ttl-over-ten-years",
        "ttl-not-a-timedelta",
        "domain-empty",
        "domain-two-lines",
        "address-short",
        "address-bad-checksum",
    ],
)
def test_malformed_nonce_terms_are_invalid_input_and_store_nothing(
    fdb: ForgeDB, snapshot: Snapshot, options: dict[str, Any], field: str
) -> None:
    before = snapshot("siwe_nonces")
    with pytest.raises(InvalidInput) as info:
        fdb.auth.create_siwe_nonce(**options)
    assert info.value.field == field
    assert snapshot("siwe_nonces") == before


def test_a_nonce_domain_with_a_space_is_invalid_input_naming_the_domain(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    # Python lets it through; the schema's siwe_nonces_domain_check refuses it without a field.
    before = snapshot("siwe_nonces")
    with pytest.raises(InvalidInput) as info:
        fdb.auth.create_siwe_nonce(domain="forge example")
    assert info.value.field == "domain"
    assert snapshot("siwe_nonces") == before


# --- sign-in: success --------------------------------------------------------------------------


def test_sign_in_with_a_fresh_key_creates_the_user_and_a_session(
    fdb: ForgeDB, wallet_username: Callable[[str], str]
) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(domain=DOMAIN))
    signed_in = fdb.auth.sign_in_with_ethereum(
        message, wallet.sign(message), domain=DOMAIN, user_agent="pytest", ip="192.0.2.7"
    )
    assert signed_in.created_user is True
    assert signed_in.user.wallet_address == wallet.address.lower()
    assert signed_in.user.username == wallet_username(wallet.address)
    assert signed_in.user.active is True
    assert signed_in.session.user_id == signed_in.user.id
    assert signed_in.session.user_agent == "pytest"
    assert str(signed_in.session.ip) == "192.0.2.7"
    assert signed_in.session.revoked_at is None
    found = fdb.auth.get_session(signed_in.token)
    assert found.user == signed_in.user
    assert found.session.id == signed_in.session.id


def test_sign_in_stores_only_the_sha256_digest_of_the_session_token(
    sign_in: SignInFn, conn: Conn
) -> None:
    signed_in = sign_in()
    row = conn.execute(
        "SELECT token_digest FROM auth_sessions WHERE id = %s", (signed_in.session.id,)
    ).fetchone()
    assert row is not None
    assert bytes(row[0]) == hashlib.sha256(signed_in.token.encode()).digest()


def test_sign_in_consumes_its_nonce(fdb: ForgeDB, conn: Conn) -> None:
    wallet = Wallet()
    nonce = fdb.auth.create_siwe_nonce()
    message = wallet.message(nonce)
    fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN)
    row = conn.execute(
        "SELECT consumed_at IS NOT NULL FROM siwe_nonces WHERE nonce = %s", (nonce,)
    ).fetchone()
    assert row == (True,)


def test_session_lasts_seven_idle_days_and_thirty_days_at_most_by_default(
    sign_in: SignInFn, conn: Conn
) -> None:
    signed_in = sign_in()
    row = conn.execute(
        "SELECT expires_at - created_at, absolute_expires_at - created_at, idle_timeout"
        " FROM auth_sessions WHERE id = %s",
        (signed_in.session.id,),
    ).fetchone()
    assert row == (timedelta(days=7), timedelta(days=30), timedelta(days=7))


def test_session_lifetimes_follow_the_idle_window_and_maximum_age_given(
    sign_in: SignInFn, conn: Conn
) -> None:
    signed_in = sign_in(session_idle=timedelta(hours=2), session_max_age=timedelta(hours=5))
    row = conn.execute(
        "SELECT expires_at - created_at, absolute_expires_at - created_at, idle_timeout"
        " FROM auth_sessions WHERE id = %s",
        (signed_in.session.id,),
    ).fetchone()
    assert row == (timedelta(hours=2), timedelta(hours=5), timedelta(hours=2))


def test_an_idle_window_longer_than_the_maximum_age_ends_at_the_maximum_age(
    sign_in: SignInFn, conn: Conn
) -> None:
    signed_in = sign_in(session_idle=timedelta(days=40), session_max_age=timedelta(days=30))
    row = conn.execute(
        "SELECT expires_at - created_at, absolute_expires_at - created_at"
        " FROM auth_sessions WHERE id = %s",
        (signed_in.session.id,),
    ).fetchone()
    assert row == (timedelta(days=30), timedelta(days=30))


def test_second_sign_in_finds_the_same_user(sign_in: SignInFn) -> None:
    wallet = Wallet()
    first = sign_in(wallet)
    second = sign_in(wallet)
    assert second.created_user is False
    assert second.user.id == first.user.id
    assert second.session.id != first.session.id
    assert second.token != first.token


def test_sign_in_finds_the_account_created_for_that_wallet(fdb: ForgeDB, sign_in: SignInFn) -> None:
    wallet = Wallet()
    user = fdb.users.create(username="walleted", wallet_address=wallet.address)
    signed_in = sign_in(wallet)
    assert signed_in.created_user is False
    assert signed_in.user == user


def test_nonce_bound_to_the_signing_wallet_and_domain_is_accepted(fdb: ForgeDB) -> None:
    wallet = Wallet()
    # The domain binding compares case-insensitively, as domains do.
    nonce = fdb.auth.create_siwe_nonce(domain=DOMAIN.upper(), address=wallet.address)
    message = wallet.message(nonce)
    signed_in = fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN)
    assert signed_in.user.wallet_address == wallet.address.lower()


def test_uri_and_chain_within_what_is_accepted_sign_in(fdb: ForgeDB) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(), chain_id=5)
    signed_in = fdb.auth.sign_in_with_ethereum(
        message, wallet.sign(message), domain=DOMAIN, uri=f"https://{DOMAIN}/", chain_ids={1, 5}
    )
    assert signed_in.user.wallet_address == wallet.address.lower()


# --- sign-in: the message's terms ---------------------------------------------------------------


def test_tampered_message_is_a_bad_signature(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    signature = wallet.sign(message)
    tampered = message.replace("Sign in to the forge.", "Sign in to the forge!")
    _refused(fdb, snapshot, tampered, signature, "bad_signature")


def test_wrong_signer_is_a_bad_signature(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet, impostor = Wallet(), Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    _refused(fdb, snapshot, message, impostor.sign(message), "bad_signature")


def test_message_for_another_domain_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(), domain="evil.example")
    _refused(fdb, snapshot, message, wallet.sign(message), "domain_mismatch")


def test_message_with_another_scheme_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(), scheme="http")
    _refused(fdb, snapshot, message, wallet.sign(message), "scheme_mismatch")


def test_message_uri_outside_the_accepted_prefix_is_refused(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    _refused(
        fdb, snapshot, message, wallet.sign(message), "uri_mismatch", uri=f"https://{DOMAIN}/admin"
    )


def test_message_for_an_unaccepted_chain_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(), chain_id=1)
    _refused(fdb, snapshot, message, wallet.sign(message), "chain_mismatch", chain_ids={5})


def test_message_expired_beyond_the_clock_skew_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet, now = Wallet(), _clock()
    message = wallet.message(
        fdb.auth.create_siwe_nonce(),
        issued_at=now - timedelta(hours=1),
        expiration_time=now - timedelta(seconds=61),
    )
    _refused(fdb, snapshot, message, wallet.sign(message), "expired", now=now)


def test_message_expired_within_the_clock_skew_is_accepted(fdb: ForgeDB) -> None:
    wallet, now = Wallet(), _clock()
    message = wallet.message(
        fdb.auth.create_siwe_nonce(),
        issued_at=now - timedelta(hours=1),
        expiration_time=now - timedelta(seconds=59),
    )
    assert fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN, now=now)


def test_message_not_valid_before_a_later_time_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet, now = Wallet(), _clock()
    message = wallet.message(
        fdb.auth.create_siwe_nonce(),
        not_before=now + timedelta(seconds=61),
        expiration_time=now + timedelta(hours=1),
    )
    _refused(fdb, snapshot, message, wallet.sign(message), "not_yet_valid", now=now)


def test_message_issued_in_the_future_beyond_the_clock_skew_is_refused(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    wallet, now = Wallet(), _clock()
    message = wallet.message(
        fdb.auth.create_siwe_nonce(),
        issued_at=now + timedelta(seconds=61),
        expiration_time=now + timedelta(hours=1),
    )
    _refused(fdb, snapshot, message, wallet.sign(message), "not_yet_valid", now=now)


def test_clock_skew_within_the_allowance_is_accepted(fdb: ForgeDB) -> None:
    wallet, now = Wallet(), _clock()
    soon = now + timedelta(seconds=20)
    message = wallet.message(fdb.auth.create_siwe_nonce(), issued_at=soon, not_before=soon)
    signed_in = fdb.auth.sign_in_with_ethereum(
        message, wallet.sign(message), domain=DOMAIN, now=now
    )
    assert signed_in.user.wallet_address == wallet.address.lower()


def test_clock_skew_option_sets_the_allowance(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet, now = Wallet(), _clock()
    soon = now + timedelta(seconds=20)
    message = wallet.message(fdb.auth.create_siwe_nonce(), issued_at=soon)
    _refused(
        fdb,
        snapshot,
        message,
        wallet.sign(message),
        "not_yet_valid",
        now=now,
        clock_skew=timedelta(seconds=10),
    )


def test_malformed_message_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce()).replace("Version: 1", "Version: 9")
    _refused(fdb, snapshot, message, wallet.sign(message), "malformed_message")


# --- sign-in: the nonce -------------------------------------------------------------------------


def test_second_use_of_a_nonce_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN)
    _refused(fdb, snapshot, message, wallet.sign(message), "nonce_unknown_or_used")


def test_unknown_nonce_is_refused(fdb: ForgeDB, snapshot: Snapshot) -> None:
    wallet = Wallet()
    message = wallet.message("NeverIssuedNonce1234")
    _refused(fdb, snapshot, message, wallet.sign(message), "nonce_unknown_or_used")


def test_expired_nonce_is_refused(fdb: ForgeDB, conn: Conn, snapshot: Snapshot) -> None:
    wallet = Wallet()
    nonce = fdb.auth.create_siwe_nonce()
    conn.execute(
        "UPDATE siwe_nonces SET created_at = now() - interval '1 hour',"
        " expires_at = now() - interval '1 minute' WHERE nonce = %s",
        (nonce,),
    )
    message = wallet.message(nonce)
    _refused(fdb, snapshot, message, wallet.sign(message), "nonce_unknown_or_used")


def test_nonce_bound_to_another_wallet_is_refused_and_stays_unused(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    wallet, owner = Wallet(), Wallet()
    nonce = fdb.auth.create_siwe_nonce(address=owner.address)
    message = wallet.message(nonce)
    _refused(fdb, snapshot, message, wallet.sign(message), "nonce_unknown_or_used")
    # Still unconsumed: the wallet it is bound to can use it.
    own = owner.message(nonce)
    signed_in = fdb.auth.sign_in_with_ethereum(own, owner.sign(own), domain=DOMAIN)
    assert signed_in.user.wallet_address == owner.address.lower()


def test_nonce_bound_to_another_domain_is_refused_and_stays_unused(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    wallet, other = Wallet(), "other.example"
    nonce = fdb.auth.create_siwe_nonce(domain=other)
    message = wallet.message(nonce)
    _refused(fdb, snapshot, message, wallet.sign(message), "nonce_unknown_or_used")
    # Still unconsumed: a sign-in to the domain it is bound to can use it.
    there = wallet.message(nonce, domain=other, uri=f"https://{other}/login")
    signed_in = fdb.auth.sign_in_with_ethereum(there, wallet.sign(there), domain=other)
    assert signed_in.user.wallet_address == wallet.address.lower()


def test_deactivated_user_cannot_sign_in_and_the_nonce_stays_unused(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    wallet = Wallet()
    user = fdb.users.create(username="gone", wallet_address=wallet.address)
    fdb.users.deactivate(user.id)
    message = wallet.message(fdb.auth.create_siwe_nonce())
    _refused(fdb, snapshot, message, wallet.sign(message), "user_inactive")


# --- sign-in: hostile credentials and signature formats (issue 15, items 3 and 4) --------------


@pytest.mark.parametrize(
    "signature",
    [None, 0, 1.5, True, b"", "0x", "zz", "0x" + "00" * 65],
    ids=["none", "zero", "float", "true", "empty-bytes", "bare-0x", "not-hex", "all-zero"],
)
def test_a_signature_that_is_not_one_is_a_bad_signature(
    fdb: ForgeDB, snapshot: Snapshot, signature: Any
) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    _refused(fdb, snapshot, message, signature, "bad_signature")


@pytest.mark.parametrize(
    "message",
    [None, 0, "\ud800", "x" * 2**20],
    ids=["none", "zero", "lone-surrogate", "one-megabyte"],
)
def test_a_message_that_is_not_one_is_malformed(
    fdb: ForgeDB, snapshot: Snapshot, message: Any
) -> None:
    wallet = Wallet()
    signature = wallet.sign(wallet.message(fdb.auth.create_siwe_nonce()))
    _refused(fdb, snapshot, message, signature, "malformed_message")


@pytest.mark.parametrize("recovery", [0, 1])
def test_a_recovery_byte_of_0_or_1_is_accepted_as_27_or_28(fdb: ForgeDB, recovery: int) -> None:
    nonce = fdb.auth.create_siwe_nonce()
    for _ in range(64):  # each key's signature has v = 27 or 28, one in two
        wallet = Wallet()
        message = wallet.message(nonce)
        signature = wallet.sign(message)
        if int(signature[-2:], 16) == 27 + recovery:
            break
    else:
        pytest.fail(f"no signature with v = {27 + recovery} in 64 keys")
    rewritten = signature[:-2] + f"{recovery:02x}"
    signed_in = fdb.auth.sign_in_with_ethereum(message, rewritten, domain=DOMAIN)
    assert signed_in.user.wallet_address == wallet.address.lower()


# Reference vectors of EIP-4361 (spruceid/siwe test vectors): message text and signature.
_EXAMPLE_NONCE = "bTyXgcQxn2htgkjJn"
_EXAMPLE_MESSAGE = (
    "login.xyz wants you to sign in with your Ethereum account:\n"
    "0x9D85ca56217D2bb651b00f15e694EB7E713637D4\n"
    "\n"
    "Sign-In With Ethereum Example Statement\n"
    "\n"
    "URI: https://login.xyz\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    f"Nonce: {_EXAMPLE_NONCE}\n"
    "Issued At: 2022-01-27T17:09:38.578Z\n"
    "Expiration Time: 2100-01-07T14:31:43.952Z"
)
_EXAMPLE_SIGNATURE = (
    "0xdc35c7f8ba2720df052e0092556456127f00f7707eaa8e3bbff7e56774e7f2e0"
    "5a093cfc9e02964c33d86e8e066e221b7d153d27e5a2e97ccd5ca7d3f2ce06cb1b"
)
_RECOVERY_0_MESSAGE = (
    "www.tally.xyz wants you to sign in with your Ethereum account:\n"
    "0xc95EB884FE852e241D409234bfC7045CB9E31BD7\n"
    "\n"
    "Sign in with Ethereum to Tally\n"
    "\n"
    "URI: https://tally.xyz\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 15050747\n"
    "Issued At: 2022-06-30T14:08:51.382Z"
)
_RECOVERY_0_SIGNATURE = (
    "0x8c46b6eb8505939892d8e9b075f89f8277321b17b993151f37810cdda38cce6f"
    "4a85909d2b53e6a14629c74c0ac38bf4becde78ee5b2529812bf6cceaf7b2a2501"
)


def test_the_reference_example_message_signs_its_wallet_in(fdb: ForgeDB, conn: Conn) -> None:
    conn.execute(
        "INSERT INTO siwe_nonces (nonce, expires_at) VALUES (%s, now() + interval '10 minutes')",
        (_EXAMPLE_NONCE,),
    )
    signed_in = fdb.auth.sign_in_with_ethereum(
        _EXAMPLE_MESSAGE, _EXAMPLE_SIGNATURE, domain="login.xyz"
    )
    assert signed_in.user.wallet_address == "0x9d85ca56217d2bb651b00f15e694eb7e713637d4"


def test_the_reference_message_with_recovery_byte_0_passes_the_signature_check(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    # Its nonce has the 8 characters EIP-4361 allows, not the 16 this server issues, so no nonce
    # row can hold it: the refusal comes at the nonce, after the signature was accepted.
    _refused(
        fdb,
        snapshot,
        _RECOVERY_0_MESSAGE,
        _RECOVERY_0_SIGNATURE,
        "nonce_unknown_or_used",
        domain="www.tally.xyz",
    )


def test_concurrent_replays_of_one_signed_message_open_exactly_one_session(
    fdb: ForgeDB,
    conn: Conn,
    own_clients: Callable[[int], list[ForgeDB]],
    together: Together,
) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(domain=DOMAIN))
    signature = wallet.sign(message)
    replays = [
        functools.partial(client.auth.sign_in_with_ethereum, message, signature, domain=DOMAIN)
        for client in own_clients(16)
    ]
    outcomes = together(replays)
    results = sorted(
        "ok"
        if isinstance(outcome, SignIn)
        else outcome.reason
        if isinstance(outcome, AuthenticationFailed)
        else repr(outcome)
        for outcome in outcomes
    )
    assert results == ["nonce_unknown_or_used"] * 15 + ["ok"]
    assert conn.execute("SELECT count(*) FROM auth_sessions").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)


# --- sessions: lookup ---------------------------------------------------------------------------


def test_get_session_returns_the_live_session_and_its_user(fdb: ForgeDB, sign_in: SignInFn) -> None:
    signed_in = sign_in()
    found = fdb.auth.get_session(signed_in.token)
    assert found.session == signed_in.session
    assert found.user == signed_in.user


def test_session_lookup_slides_the_expiry_after_half_its_idle_window(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    token = sign_in(session_idle=timedelta(hours=2)).token
    conn.execute("UPDATE auth_sessions SET expires_at = now() + interval '30 minutes'")
    slid = fdb.auth.get_session(token).session
    assert slid.expires_at == slid.last_seen_at + timedelta(hours=2)
    stored = conn.execute("SELECT expires_at, last_seen_at FROM auth_sessions").fetchone()
    assert stored == (slid.expires_at, slid.last_seen_at)


def test_session_lookup_before_half_its_idle_window_writes_nothing(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    token = sign_in().token
    before = conn.execute(
        "SELECT xmin::text, expires_at, last_seen_at FROM auth_sessions"
    ).fetchone()
    fdb.auth.get_session(token)
    fdb.auth.get_session(token)
    after = conn.execute(
        "SELECT xmin::text, expires_at, last_seen_at FROM auth_sessions"
    ).fetchone()
    assert after == before


def test_session_lookup_records_last_seen_once_a_minute_has_passed(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    token = sign_in().token
    conn.execute("UPDATE auth_sessions SET last_seen_at = now() - interval '2 minutes'")
    row = conn.execute("SELECT last_seen_at, expires_at FROM auth_sessions").fetchone()
    assert row is not None
    seen = fdb.auth.get_session(token).session
    assert seen.last_seen_at > row[0]
    assert seen.expires_at == row[1], "the expiry moved before half the idle window had passed"
    stored = conn.execute("SELECT last_seen_at FROM auth_sessions").fetchone()
    assert stored == (seen.last_seen_at,)


def test_sliding_never_passes_the_absolute_limit(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    token = sign_in(session_idle=timedelta(hours=2), session_max_age=timedelta(hours=3)).token
    conn.execute(
        "UPDATE auth_sessions SET created_at = now() - interval '170 minutes', "
        "absolute_expires_at = now() + interval '10 minutes', expires_at = now() + interval '5 minutes'"
    )
    session = fdb.auth.get_session(token).session
    assert session.expires_at == session.absolute_expires_at


@pytest.mark.parametrize("how", ["revoke", "expire", "deactivate", "revoke_all", "revoke_by_id"])
def test_ended_sessions_are_invalid(fdb: ForgeDB, sign_in: SignInFn, conn: Conn, how: str) -> None:
    signed_in = sign_in()
    token, user_id = signed_in.token, signed_in.user.id
    if how == "revoke":
        fdb.auth.revoke_session(token)
    elif how == "expire":
        conn.execute(
            "UPDATE auth_sessions SET created_at = now() - interval '2 days',"
            " expires_at = now() - interval '1 second'"
        )
    elif how == "deactivate":
        fdb.users.deactivate(user_id)
    elif how == "revoke_all":
        fdb.auth.revoke_all_sessions(user_id)
    else:
        fdb.auth.revoke_session_by_id(user_id, signed_in.session.id)
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.get_session(token)
    assert info.value.reason == "session_invalid"


def test_unknown_session_token_is_invalid(fdb: ForgeDB, sign_in: SignInFn) -> None:
    sign_in()
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.get_session("not-a-session-token")
    assert info.value.reason == "session_invalid"


_MALFORMED_SESSION_TOKENS = ["", "x" * 257, None, 0, b"token", "x\ud800"]
_MALFORMED_SESSION_IDS = ["empty", "too-long", "none", "zero", "bytes", "lone-surrogate"]


@pytest.mark.parametrize("token", _MALFORMED_SESSION_TOKENS, ids=_MALFORMED_SESSION_IDS)
def test_malformed_session_token_is_invalid_without_a_lookup(
    fdb: ForgeDB, pool_requests: Callable[[], int], token: Any
) -> None:
    before = pool_requests()
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.get_session(token)
    assert info.value.reason == "session_invalid"
    assert pool_requests() == before, "a malformed token was looked up"


# --- sessions: sign-out -------------------------------------------------------------------------


def test_revoke_session_signs_out_that_session_only(fdb: ForgeDB, sign_in: SignInFn) -> None:
    wallet = Wallet()
    first, second = sign_in(wallet), sign_in(wallet)
    assert fdb.auth.revoke_session(first.token) is True
    with pytest.raises(AuthenticationFailed):
        fdb.auth.get_session(first.token)
    assert fdb.auth.get_session(second.token).session.id == second.session.id


def test_revoking_a_session_twice_reports_false_the_second_time(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    token = sign_in().token
    assert fdb.auth.revoke_session(token) is True
    first = conn.execute("SELECT revoked_at FROM auth_sessions").fetchone()
    assert fdb.auth.revoke_session(token) is False
    assert conn.execute("SELECT revoked_at FROM auth_sessions").fetchone() == first


@pytest.mark.parametrize(
    "token",
    ["not-a-session-token", *_MALFORMED_SESSION_TOKENS],
    ids=["unknown", *_MALFORMED_SESSION_IDS],
)
def test_revoke_session_of_an_unknown_or_malformed_token_is_false(
    fdb: ForgeDB, sign_in: SignInFn, snapshot: Snapshot, token: Any
) -> None:
    sign_in()
    before = snapshot("auth_sessions")
    assert fdb.auth.revoke_session(token) is False
    assert snapshot("auth_sessions") == before


def test_revoke_session_by_id_ends_that_session(fdb: ForgeDB, sign_in: SignInFn) -> None:
    wallet = Wallet()
    first, second = sign_in(wallet), sign_in(wallet)
    assert fdb.auth.revoke_session_by_id(first.user.id, first.session.id) is True
    assert [s.id for s in fdb.auth.list_sessions(first.user.id)] == [second.session.id]
    assert fdb.auth.revoke_session_by_id(first.user.id, first.session.id) is False


def test_revoke_session_by_id_of_another_users_session_is_false_and_harmless(
    fdb: ForgeDB, sign_in: SignInFn
) -> None:
    victim = sign_in()
    other = make_user(fdb)
    assert fdb.auth.revoke_session_by_id(other.id, victim.session.id) is False
    assert fdb.auth.get_session(victim.token).session.id == victim.session.id


def test_revoke_session_by_id_of_a_missing_session_is_false(
    fdb: ForgeDB, sign_in: SignInFn
) -> None:
    signed_in = sign_in()
    assert fdb.auth.revoke_session_by_id(signed_in.user.id, signed_in.session.id + 1000) is False


def test_revoke_all_sessions_signs_the_user_out_everywhere_and_counts(
    fdb: ForgeDB, sign_in: SignInFn
) -> None:
    wallet = Wallet()
    sessions = [sign_in(wallet) for _ in range(3)]
    fdb.auth.revoke_session(sessions[0].token)
    bystander = sign_in()
    assert fdb.auth.revoke_all_sessions(sessions[0].user.id) == 2
    assert fdb.auth.list_sessions(sessions[0].user.id) == []
    assert fdb.auth.get_session(bystander.token).user.id == bystander.user.id
    assert fdb.auth.revoke_all_sessions(sessions[0].user.id) == 0


# --- sessions: listing and purging --------------------------------------------------------------


def test_list_sessions_shows_the_live_sessions_most_recently_seen_first(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    wallet = Wallet()
    old, recent, middle, revoked, expired = (sign_in(wallet) for _ in range(5))
    sign_in()  # another user's session
    for signed_in, hours in ((old, 3), (recent, 1), (middle, 2)):
        conn.execute(
            "UPDATE auth_sessions SET last_seen_at = now() - make_interval(hours => %s)"
            " WHERE id = %s",
            (hours, signed_in.session.id),
        )
    fdb.auth.revoke_session(revoked.token)
    conn.execute(
        "UPDATE auth_sessions SET expires_at = now() - interval '1 second' WHERE id = %s",
        (expired.session.id,),
    )
    listed = fdb.auth.list_sessions(old.user.id)
    assert [s.id for s in listed] == [recent.session.id, middle.session.id, old.session.id]


def test_list_sessions_of_a_user_without_sessions_is_empty(fdb: ForgeDB) -> None:
    assert fdb.auth.list_sessions(make_user(fdb).id) == []


def test_purge_expired_sessions_deletes_expired_and_long_revoked_sessions(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    live, expired, revoked, long_revoked = (sign_in() for _ in range(4))
    conn.execute(
        "UPDATE auth_sessions SET created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 second' WHERE id = %s",
        (expired.session.id,),
    )
    fdb.auth.revoke_session(revoked.token)
    fdb.auth.revoke_session(long_revoked.token)
    conn.execute(
        "UPDATE auth_sessions SET revoked_at = now() - interval '31 days' WHERE id = %s",
        (long_revoked.session.id,),
    )
    assert fdb.auth.purge_expired_sessions() == 2
    left = {row[0] for row in conn.execute("SELECT id FROM auth_sessions")}
    assert left == {live.session.id, revoked.session.id}
    assert fdb.auth.get_session(live.token).session.id == live.session.id


def test_purge_expired_sessions_keeps_revoked_sessions_younger_than_keep_revoked(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    revoked = sign_in()
    fdb.auth.revoke_session(revoked.token)
    conn.execute("UPDATE auth_sessions SET revoked_at = now() - interval '31 days'")
    assert fdb.auth.purge_expired_sessions(keep_revoked=timedelta(days=40)) == 0
    assert conn.execute("SELECT id FROM auth_sessions").fetchall() == [(revoked.session.id,)]


def test_purge_expired_nonces_deletes_used_and_expired_nonces_only(
    fdb: ForgeDB, sign_in: SignInFn, conn: Conn
) -> None:
    sign_in()
    sign_in()
    expired = fdb.auth.create_siwe_nonce()
    conn.execute(
        "UPDATE siwe_nonces SET created_at = now() - interval '1 hour',"
        " expires_at = now() - interval '1 minute' WHERE nonce = %s",
        (expired,),
    )
    fresh = fdb.auth.create_siwe_nonce()
    assert fdb.auth.purge_expired_nonces() == 3
    assert conn.execute("SELECT nonce FROM siwe_nonces").fetchall() == [(fresh,)]
