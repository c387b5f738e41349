"""db.auth: Sign-In with Ethereum, sessions and access tokens, through both APIs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from support import DOMAIN, Wallet, make_user

from forge_db import AuthenticationFailed, ForgeDB, InvalidInput, PermissionDenied
from forge_db.users import ACCESS_TOKEN_PREFIX


def _counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM auth_sessions),"
        " (SELECT count(*) FROM siwe_nonces WHERE consumed_at IS NOT NULL)"
    ).fetchone()
    assert row is not None
    return row


def _refused(
    fdb: ForgeDB, conn: psycopg.Connection, message: str, signature: str, reason: str, **kw: object
) -> None:
    before = _counts(conn)
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.sign_in_with_ethereum(message, signature, domain=DOMAIN, **kw)  # type: ignore[arg-type]
    assert info.value.reason == reason
    assert _counts(conn) == before, "a refused sign-in changed the database"


# --- nonces ------------------------------------------------------------------------------------


def test_nonce_is_long_alphanumeric_and_expires_in_ten_minutes(
    fdb: ForgeDB, conn: psycopg.Connection
) -> None:
    nonce = fdb.auth.create_siwe_nonce(domain=DOMAIN)
    assert len(nonce) >= 16
    assert nonce.isalnum()
    row = conn.execute(
        "SELECT domain, extract(epoch FROM expires_at - created_at) FROM siwe_nonces WHERE nonce = %s",
        (nonce,),
    ).fetchone()
    assert row == (DOMAIN, 600)


def test_nonces_differ(fdb: ForgeDB) -> None:
    assert len({fdb.auth.create_siwe_nonce() for _ in range(20)}) == 20


# --- sign-in -----------------------------------------------------------------------------------


def test_sign_in_with_a_fresh_key_creates_the_user_and_a_session(fdb: ForgeDB) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(domain=DOMAIN))
    signed_in = fdb.auth.sign_in_with_ethereum(
        message, wallet.sign(message), domain=DOMAIN, user_agent="pytest", ip="192.0.2.7"
    )
    assert signed_in.created_user is True
    assert signed_in.user.wallet_address == wallet.address.lower()
    assert signed_in.user.username == f"eth-{wallet.address.lower()[2:18]}"
    assert signed_in.session.user_id == signed_in.user.id
    assert str(signed_in.session.ip) == "192.0.2.7"
    found = fdb.auth.get_session(signed_in.token)
    assert found.user == signed_in.user


def test_second_sign_in_finds_the_same_user(fdb: ForgeDB) -> None:
    wallet = Wallet()
    first_message = wallet.message(fdb.auth.create_siwe_nonce())
    first = fdb.auth.sign_in_with_ethereum(first_message, wallet.sign(first_message), domain=DOMAIN)
    again = wallet.message(fdb.auth.create_siwe_nonce())
    second = fdb.auth.sign_in_with_ethereum(again, wallet.sign(again), domain=DOMAIN)
    assert second.created_user is False
    assert second.user.id == first.user.id
    assert second.token != first.token


def test_tampered_message_is_a_bad_signature(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    signature = wallet.sign(message)
    _refused(
        fdb,
        conn,
        message.replace("Sign in to the forge.", "Sign in to the forge!"),
        signature,
        "bad_signature",
    )


def test_wrong_signer_is_a_bad_signature(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet, impostor = Wallet(), Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    _refused(fdb, conn, message, impostor.sign(message), "bad_signature")


def test_wrong_domain_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(), domain="evil.example")
    _refused(fdb, conn, message, wallet.sign(message), "domain_mismatch")


def test_wrong_scheme_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(), scheme="http")
    _refused(fdb, conn, message, wallet.sign(message), "scheme_mismatch")


def test_expired_message_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    message = wallet.message(
        fdb.auth.create_siwe_nonce(), issued_at=past, expiration_time=past + timedelta(minutes=5)
    )
    _refused(fdb, conn, message, wallet.sign(message), "expired")


def test_not_yet_valid_message_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    message = wallet.message(
        fdb.auth.create_siwe_nonce(), not_before=later, expiration_time=later + timedelta(hours=1)
    )
    _refused(fdb, conn, message, wallet.sign(message), "not_yet_valid")


def test_clock_skew_within_the_allowance_is_accepted(fdb: ForgeDB) -> None:
    wallet = Wallet()
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    message = wallet.message(fdb.auth.create_siwe_nonce(), issued_at=soon, not_before=soon)
    assert fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN).token


def test_reused_nonce_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN)
    _refused(fdb, conn, message, wallet.sign(message), "nonce_unknown_or_used")


def test_unknown_nonce_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    message = wallet.message("NeverIssuedNonce1234")
    _refused(fdb, conn, message, wallet.sign(message), "nonce_unknown_or_used")


def test_expired_nonce_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    nonce = fdb.auth.create_siwe_nonce()
    conn.execute(
        "UPDATE siwe_nonces SET created_at = now() - interval '1 hour', expires_at = now() - interval '1 minute' WHERE nonce = %s",
        (nonce,),
    )
    message = wallet.message(nonce)
    _refused(fdb, conn, message, wallet.sign(message), "nonce_unknown_or_used")


def test_nonce_bound_to_another_wallet_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet, other = Wallet(), Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce(address=other.address))
    _refused(fdb, conn, message, wallet.sign(message), "nonce_unknown_or_used")


def test_malformed_message_is_refused(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce()).replace("Version: 1", "Version: 9")
    _refused(fdb, conn, message, wallet.sign(message), "malformed_message")


def test_deactivated_user_cannot_sign_in(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    wallet = Wallet()
    user = fdb.users.create(username="gone", wallet_address=wallet.address)
    fdb.users.deactivate(user.id)
    message = wallet.message(fdb.auth.create_siwe_nonce())
    _refused(fdb, conn, message, wallet.sign(message), "user_inactive")


def test_concurrent_replays_create_exactly_one_session(db: ForgeDB, database_url: str) -> None:
    wallet = Wallet()
    message = wallet.message(db.auth.create_siwe_nonce(domain=DOMAIN))
    signature = wallet.sign(message)
    barrier = threading.Barrier(16)
    outcomes: list[str] = []
    lock = threading.Lock()

    def replay() -> None:
        from forge_db import ForgeDB

        with ForgeDB.connect(database_url, min_size=1, max_size=1) as own:
            barrier.wait()
            try:
                own.auth.sign_in_with_ethereum(message, signature, domain=DOMAIN)
                result = "ok"
            except AuthenticationFailed as exc:
                result = exc.reason
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=replay) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["nonce_unknown_or_used"] * 15 + ["ok"]
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM auth_sessions").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)


# --- sessions ----------------------------------------------------------------------------------


def _signed_in(fdb: ForgeDB, **kw: object) -> tuple[str, int]:
    wallet = Wallet()
    message = wallet.message(fdb.auth.create_siwe_nonce())
    result = fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN, **kw)  # type: ignore[arg-type]
    return result.token, result.user.id


def test_session_lookup_slides_the_expiry_after_half_its_lifetime(
    fdb: ForgeDB, conn: psycopg.Connection
) -> None:
    token, _ = _signed_in(fdb, session_idle=timedelta(hours=2))
    fresh = fdb.auth.get_session(token).session
    conn.execute("UPDATE auth_sessions SET expires_at = now() + interval '30 minutes'")
    slid = fdb.auth.get_session(token).session
    assert slid.expires_at > fresh.expires_at - timedelta(minutes=1)
    assert slid.expires_at - datetime.now(UTC) > timedelta(minutes=110)


def test_session_lookup_before_half_life_writes_nothing(
    fdb: ForgeDB, conn: psycopg.Connection
) -> None:
    token, _ = _signed_in(fdb)
    fdb.auth.get_session(token)
    before = conn.execute("SELECT xmin::text, expires_at FROM auth_sessions").fetchone()
    fdb.auth.get_session(token)
    assert conn.execute("SELECT xmin::text, expires_at FROM auth_sessions").fetchone() == before


def test_sliding_never_passes_the_absolute_limit(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    token, _ = _signed_in(fdb, session_idle=timedelta(hours=2), session_max_age=timedelta(hours=3))
    conn.execute(
        "UPDATE auth_sessions SET created_at = now() - interval '170 minutes', "
        "absolute_expires_at = now() + interval '10 minutes', expires_at = now() + interval '5 minutes'"
    )
    session = fdb.auth.get_session(token).session
    assert session.expires_at == session.absolute_expires_at


@pytest.mark.parametrize("how", ["revoke", "expire", "deactivate", "revoke_all", "unknown"])
def test_ended_sessions_are_invalid(fdb: ForgeDB, conn: psycopg.Connection, how: str) -> None:
    token, user_id = _signed_in(fdb)
    if how == "revoke":
        assert fdb.auth.revoke_session(token) is True
        assert fdb.auth.revoke_session(token) is False
    elif how == "expire":
        conn.execute(
            "UPDATE auth_sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second'"
        )
    elif how == "deactivate":
        fdb.users.deactivate(user_id)
    elif how == "revoke_all":
        assert fdb.auth.revoke_all_sessions(user_id) == 1
    else:
        token = "not-a-session-token"
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.get_session(token)
    assert info.value.reason == "session_invalid"


def test_list_and_revoke_sessions_by_id(fdb: ForgeDB) -> None:
    wallet = Wallet()
    tokens = []
    for _ in range(3):
        message = wallet.message(fdb.auth.create_siwe_nonce())
        tokens.append(fdb.auth.sign_in_with_ethereum(message, wallet.sign(message), domain=DOMAIN))
    user_id = tokens[0].user.id
    sessions = fdb.auth.list_sessions(user_id)
    assert len(sessions) == 3
    assert fdb.auth.revoke_session_by_id(user_id, sessions[0].id) is True
    assert len(fdb.auth.list_sessions(user_id)) == 2
    other = make_user(fdb)
    assert fdb.auth.revoke_session_by_id(other.id, sessions[1].id) is False


def test_purge_removes_expired_sessions_and_used_nonces(
    fdb: ForgeDB, conn: psycopg.Connection
) -> None:
    _token, _ = _signed_in(fdb)
    live_token, _ = _signed_in(fdb)
    conn.execute(
        "UPDATE auth_sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second'"
        " WHERE id = (SELECT min(id) FROM auth_sessions)"
    )
    fdb.auth.create_siwe_nonce()
    assert fdb.auth.purge_expired_sessions() == 1
    assert fdb.auth.purge_expired_nonces() == 2
    assert fdb.auth.get_session(live_token)
    assert conn.execute("SELECT count(*) FROM siwe_nonces").fetchone() == (1,)


# --- access tokens -----------------------------------------------------------------------------


def test_access_token_is_shown_once_with_a_recognisable_prefix(
    fdb: ForgeDB, conn: psycopg.Connection
) -> None:
    user = make_user(fdb)
    created = fdb.auth.create_access_token(user.id, name="ci", scopes=["repo:read"])
    assert created.token.startswith(ACCESS_TOKEN_PREFIX)
    assert created.access_token.token_hint == created.token[:8]
    stored = conn.execute("SELECT token_digest FROM access_tokens").fetchone()
    assert stored is not None
    assert created.token.encode() not in bytes(stored[0])


def test_verify_returns_the_user_and_honours_implied_scopes(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    token = fdb.auth.create_access_token(user.id, name="agent", scopes=["repo:write"]).token
    assert fdb.auth.verify_access_token(token, "repo:write").user == user
    assert fdb.auth.verify_access_token(token, "repo:read").user == user
    with pytest.raises(PermissionDenied, match="issues:write"):
        fdb.auth.verify_access_token(token, "issues:write")
    admin = fdb.auth.create_access_token(user.id, name="root", scopes=["admin"]).token
    assert fdb.auth.verify_access_token(admin, "workflows:write").user == user


@pytest.mark.parametrize(
    "token", ["", "fdb_short", "ghp_" + "a" * 36, ACCESS_TOKEN_PREFIX + "A" * 36]
)
def test_malformed_tokens_are_refused_without_a_lookup(fdb: ForgeDB, token: str) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.verify_access_token(token, "repo:read")
    assert info.value.reason == "token_invalid"


def test_revoked_expired_and_inactive_tokens_are_refused(
    fdb: ForgeDB, conn: psycopg.Connection
) -> None:
    user = make_user(fdb)
    revoked = fdb.auth.create_access_token(user.id, name="a", scopes=["repo:read"])
    fdb.auth.revoke_access_token(user.id, revoked.access_token.id)
    expiring = fdb.auth.create_access_token(
        user.id, name="b", scopes=["repo:read"], expires_in=timedelta(hours=1)
    )
    conn.execute(
        "UPDATE access_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' WHERE name = 'b'"
    )
    for token, reason in ((revoked.token, "token_revoked"), (expiring.token, "token_expired")):
        with pytest.raises(AuthenticationFailed) as info:
            fdb.auth.verify_access_token(token, "repo:read")
        assert info.value.reason == reason
    live = fdb.auth.create_access_token(user.id, name="c", scopes=["repo:read"])
    fdb.users.deactivate(user.id)
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.verify_access_token(live.token, "repo:read")
    assert info.value.reason in ("token_revoked", "user_inactive")


def test_last_used_is_written_at_most_once_a_minute(fdb: ForgeDB, conn: psycopg.Connection) -> None:
    user = make_user(fdb)
    token = fdb.auth.create_access_token(user.id, name="busy", scopes=["repo:read"]).token
    first = fdb.auth.verify_access_token(token, "repo:read").access_token.last_used_at
    assert first is not None
    version = conn.execute("SELECT xmin::text FROM access_tokens").fetchone()
    for _ in range(5):
        assert fdb.auth.verify_access_token(token, "repo:read").access_token.last_used_at == first
    assert conn.execute("SELECT xmin::text FROM access_tokens").fetchone() == version
    conn.execute("UPDATE access_tokens SET last_used_at = now() - interval '2 minutes'")
    assert fdb.auth.verify_access_token(
        token, "repo:read"
    ).access_token.last_used_at > first - timedelta(minutes=1)


def test_token_names_are_unique_among_live_tokens(fdb: ForgeDB) -> None:
    from forge_db import AlreadyExists

    user = make_user(fdb)
    first = fdb.auth.create_access_token(user.id, name="Deploy", scopes=["repo:read"])
    with pytest.raises(AlreadyExists):
        fdb.auth.create_access_token(user.id, name="deploy", scopes=["repo:read"])
    fdb.auth.revoke_access_token(user.id, first.access_token.id)
    assert fdb.auth.create_access_token(user.id, name="deploy", scopes=["repo:read"]).token
    assert [t.name for t in fdb.auth.list_access_tokens(user.id)] == ["deploy"]
    assert len(fdb.auth.list_access_tokens(user.id, include_revoked=True)) == 2


@pytest.mark.parametrize("scopes", [[], ["repo:delete"], "repo:read"])
def test_unknown_or_missing_scopes_are_invalid_input(fdb: ForgeDB, scopes: object) -> None:
    with pytest.raises(InvalidInput) as info:
        fdb.auth.create_access_token(make_user(fdb).id, name="x", scopes=scopes)  # type: ignore[arg-type]
    assert info.value.field == "scopes"
