"""db.auth.tokens: personal access tokens, through both APIs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from support import make_user

from forge_db import (
    AlreadyExists,
    AuthenticationFailed,
    ForgeDB,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from forge_db.auth import ACCESS_TOKEN_PREFIX
from forge_db.auth.tokens import Scope, new_access_token

Conn = psycopg.Connection[Any]
Snapshot = Callable[..., dict[str, list[tuple[Any, ...]]]]


def _refused(fdb: ForgeDB, token: Any, scope: Scope, reason: str) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        fdb.auth.tokens.verify(token, scope)
    assert info.value.reason == reason


# --- create -------------------------------------------------------------------------------------


def test_create_shows_the_token_once_with_a_recognisable_prefix(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(user.id, name="ci", scopes=["repo:read"])
    assert created.token.startswith(ACCESS_TOKEN_PREFIX)
    assert len(created.token) == len(ACCESS_TOKEN_PREFIX) + 36
    assert created.token[len(ACCESS_TOKEN_PREFIX) :].isalnum()
    assert created.access_token.token_hint == created.token[:8]
    assert created.access_token.user_id == user.id
    assert created.access_token.name == "ci"
    assert created.access_token.scopes == ["repo:read"]
    assert (created.access_token.expires_at, created.access_token.last_used_at) == (None, None)
    assert created.access_token.revoked_at is None


def test_create_stores_only_the_sha256_digest_of_the_token(fdb: ForgeDB, conn: Conn) -> None:
    created = fdb.auth.tokens.create(make_user(fdb).id, name="ci", scopes=["repo:read"])
    row = conn.execute(
        "SELECT token_digest FROM access_tokens WHERE id = %s", (created.access_token.id,)
    ).fetchone()
    assert row is not None
    assert bytes(row[0]) == hashlib.sha256(created.token.encode()).digest()


def test_tokens_differ(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    tokens = {
        fdb.auth.tokens.create(user.id, name=f"t{i}", scopes=["repo:read"]).token for i in range(10)
    }
    assert len(tokens) == 10


def test_create_stores_each_scope_once_in_order(fdb: ForgeDB) -> None:
    scopes: list[Any] = ["repo:write", "admin", "repo:write"]
    created = fdb.auth.tokens.create(make_user(fdb).id, name="ci", scopes=scopes)
    assert created.access_token.scopes == ["admin", "repo:write"]


def test_create_with_expires_in_sets_the_expiry(fdb: ForgeDB, conn: Conn) -> None:
    created = fdb.auth.tokens.create(
        make_user(fdb).id, name="ci", scopes=["repo:read"], expires_in=timedelta(hours=1)
    )
    row = conn.execute(
        "SELECT expires_at, expires_at - created_at FROM access_tokens WHERE id = %s",
        (created.access_token.id,),
    ).fetchone()
    assert row == (created.access_token.expires_at, timedelta(hours=1))


def test_token_names_are_unique_among_a_users_live_tokens(fdb: ForgeDB, snapshot: Snapshot) -> None:
    user = make_user(fdb)
    fdb.auth.tokens.create(user.id, name="Deploy", scopes=["repo:read"])
    before = snapshot("access_tokens")
    with pytest.raises(AlreadyExists) as info:
        fdb.auth.tokens.create(user.id, name="deploy", scopes=["repo:read"])
    assert info.value.constraint == "access_tokens_user_id_name_lower_key"
    assert snapshot("access_tokens") == before


def test_a_revoked_token_frees_its_name(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    first = fdb.auth.tokens.create(user.id, name="Deploy", scopes=["repo:read"])
    fdb.auth.tokens.revoke(user.id, first.access_token.id)
    again = fdb.auth.tokens.create(user.id, name="deploy", scopes=["repo:read"])
    assert [t.id for t in fdb.auth.tokens.list(user.id)] == [again.access_token.id]


def test_two_users_may_name_their_tokens_alike(fdb: ForgeDB) -> None:
    first, second = make_user(fdb), make_user(fdb)
    fdb.auth.tokens.create(first.id, name="deploy", scopes=["repo:read"])
    created = fdb.auth.tokens.create(second.id, name="deploy", scopes=["repo:read"])
    assert created.access_token.user_id == second.id


@pytest.mark.parametrize("scopes", [[], ["repo:delete"], "repo:read", ["repo:read", "root"], None])
def test_unknown_or_missing_scopes_are_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot, scopes: Any
) -> None:
    user = make_user(fdb)
    before = snapshot("access_tokens")
    with pytest.raises(InvalidInput) as info:
        fdb.auth.tokens.create(user.id, name="x", scopes=scopes)
    assert info.value.field == "scopes"
    assert snapshot("access_tokens") == before


@pytest.mark.parametrize(
    "name",
    ["", "   ", "two\nlines", "tab\there", None],
    ids=["empty", "blank", "two-lines", "control-character", "none"],
)
def test_malformed_token_names_are_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot, name: Any
) -> None:
    user = make_user(fdb)
    before = snapshot("access_tokens")
    with pytest.raises(InvalidInput) as info:
        fdb.auth.tokens.create(user.id, name=name, scopes=["repo:read"])
    assert info.value.field == "name"
    assert snapshot("access_tokens") == before


def test_a_token_name_over_100_characters_is_invalid_input_naming_the_name(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    # The signature's Line allows 255 characters; access_tokens_name_check allows 100, and its
    # refusal carries no field.
    user = make_user(fdb)
    before = snapshot("access_tokens")
    with pytest.raises(InvalidInput) as info:
        fdb.auth.tokens.create(user.id, name="n" * 101, scopes=["repo:read"])
    assert info.value.field == "name"
    assert snapshot("access_tokens") == before


@pytest.mark.parametrize(
    "expires_in", [timedelta(0), timedelta(hours=-1), 3600], ids=["zero", "negative", "seconds"]
)
def test_an_expiry_that_is_not_a_positive_duration_is_invalid_input(
    fdb: ForgeDB, snapshot: Snapshot, expires_in: Any
) -> None:
    user = make_user(fdb)
    before = snapshot("access_tokens")
    with pytest.raises(InvalidInput) as info:
        fdb.auth.tokens.create(user.id, name="x", scopes=["repo:read"], expires_in=expires_in)
    assert info.value.field == "expires_in"
    assert snapshot("access_tokens") == before


def test_create_for_a_missing_user_is_not_found(fdb: ForgeDB, snapshot: Snapshot) -> None:
    before = snapshot("access_tokens")
    with pytest.raises(NotFound, match="not found or not active"):
        fdb.auth.tokens.create(999999, name="x", scopes=["repo:read"])
    assert snapshot("access_tokens") == before


def test_create_for_a_deactivated_user_is_not_found(fdb: ForgeDB, snapshot: Snapshot) -> None:
    user = make_user(fdb)
    fdb.users.deactivate(user.id)
    before = snapshot("access_tokens")
    with pytest.raises(NotFound, match="not found or not active"):
        fdb.auth.tokens.create(user.id, name="x", scopes=["repo:read"])
    assert snapshot("access_tokens") == before


# --- verify -------------------------------------------------------------------------------------


def test_verify_returns_the_user_and_the_token_record(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(user.id, name="agent", scopes=["repo:write"])
    identity = fdb.auth.tokens.verify(created.token, "repo:write")
    assert identity.user == user
    assert identity.access_token.id == created.access_token.id
    assert identity.access_token.last_used_at is not None


@pytest.mark.parametrize(
    ("held", "wanted"),
    [
        ("repo:write", "repo:read"),
        ("repo:admin", "repo:write"),
        ("repo:admin", "repo:read"),
        ("issues:write", "issues:read"),
        ("user:write", "user:read"),
        ("admin", "workflows:write"),
        ("admin", "repo:admin"),
    ],
)
def test_a_scope_grants_the_scopes_it_implies(fdb: ForgeDB, held: Any, wanted: Any) -> None:
    user = make_user(fdb)
    token = fdb.auth.tokens.create(user.id, name="t", scopes=[held]).token
    assert fdb.auth.tokens.verify(token, wanted).user == user


@pytest.mark.parametrize(
    ("held", "wanted"),
    [
        ("repo:write", "issues:write"),
        ("repo:read", "repo:write"),
        ("repo:write", "repo:admin"),
        ("issues:read", "issues:write"),
        ("workflows:write", "admin"),
    ],
)
def test_a_scope_not_held_or_implied_is_permission_denied(
    fdb: ForgeDB, conn: Conn, held: Any, wanted: Any
) -> None:
    token = fdb.auth.tokens.create(make_user(fdb).id, name="t", scopes=[held]).token
    with pytest.raises(PermissionDenied, match=wanted):
        fdb.auth.tokens.verify(token, wanted)
    assert conn.execute("SELECT last_used_at FROM access_tokens").fetchone() == (None,)


def test_verify_of_a_scope_outside_the_vocabulary_is_invalid_input(fdb: ForgeDB) -> None:
    token = fdb.auth.tokens.create(make_user(fdb).id, name="t", scopes=["admin"]).token
    with pytest.raises(InvalidInput) as info:
        fdb.auth.tokens.verify(token, "root")  # type: ignore[arg-type]
    assert info.value.field == "scope"


def _one_character_changed(token: str) -> str:
    index = len(ACCESS_TOKEN_PREFIX) + 5
    return token[:index] + ("B" if token[index] == "A" else "A") + token[index + 1 :]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "fdb_short",
        "ghp_" + "a" * 36,
        ACCESS_TOKEN_PREFIX + "A" * 36,
        _one_character_changed(new_access_token()),
        new_access_token() + "x",
        new_access_token()[:-6] + "\ud800" * 6,
        None,
        0,
        new_access_token().encode(),
    ],
    ids=[
        "empty",
        "short",
        "another-forges-prefix",
        "bad-checksum",
        "typo",
        "too-long",
        "lone-surrogates",
        "none",
        "zero",
        "bytes",
    ],
)
def test_malformed_tokens_are_refused_without_a_lookup(
    fdb: ForgeDB, pool_requests: Callable[[], int], token: Any
) -> None:
    before = pool_requests()
    _refused(fdb, token, "repo:read", "token_invalid")
    assert pool_requests() == before, "a malformed token was looked up"


def test_a_well_formed_unknown_token_is_looked_up_and_refused(
    fdb: ForgeDB, pool_requests: Callable[[], int]
) -> None:
    # The counterpart of the test above: the pool does count the statement that a lookup runs.
    before = pool_requests()
    _refused(fdb, new_access_token(), "repo:read", "token_invalid")
    assert pool_requests() == before + 1


def test_revoked_token_is_refused(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(user.id, name="a", scopes=["repo:read"])
    fdb.auth.tokens.revoke(user.id, created.access_token.id)
    _refused(fdb, created.token, "repo:read", "token_revoked")


def test_expired_token_is_refused(fdb: ForgeDB, conn: Conn) -> None:
    created = fdb.auth.tokens.create(
        make_user(fdb).id, name="b", scopes=["repo:read"], expires_in=timedelta(hours=1)
    )
    conn.execute(
        "UPDATE access_tokens SET created_at = now() - interval '2 hours',"
        " expires_at = now() - interval '1 hour'"
    )
    _refused(fdb, created.token, "repo:read", "token_expired")


def test_token_that_has_not_expired_yet_is_accepted(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(
        user.id, name="b", scopes=["repo:read"], expires_in=timedelta(minutes=5)
    )
    assert fdb.auth.tokens.verify(created.token, "repo:read").user == user


def test_deactivating_the_user_revokes_the_token(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(user.id, name="c", scopes=["repo:read"])
    fdb.users.deactivate(user.id)
    _refused(fdb, created.token, "repo:read", "token_revoked")


def test_token_of_an_inactive_user_is_refused(fdb: ForgeDB, conn: Conn) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(user.id, name="c", scopes=["repo:read"])
    # Inactive without the revocation deactivate() adds: the user check stands on its own.
    conn.execute("UPDATE users SET active = false WHERE id = %s", (user.id,))
    _refused(fdb, created.token, "repo:read", "user_inactive")


@pytest.mark.parametrize("how", ["revoked", "expired", "inactive"])
def test_a_refused_token_is_not_marked_used(fdb: ForgeDB, conn: Conn, how: str) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(user.id, name="c", scopes=["repo:read"])
    if how == "revoked":
        fdb.auth.tokens.revoke(user.id, created.access_token.id)
    elif how == "expired":
        conn.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second'")
    else:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (user.id,))
    with pytest.raises(AuthenticationFailed):
        fdb.auth.tokens.verify(created.token, "repo:read")
    assert conn.execute("SELECT last_used_at FROM access_tokens").fetchone() == (None,)


def test_last_used_is_written_at_most_once_a_minute(fdb: ForgeDB, conn: Conn) -> None:
    user = make_user(fdb)
    token = fdb.auth.tokens.create(user.id, name="busy", scopes=["repo:read"]).token
    first = fdb.auth.tokens.verify(token, "repo:read").access_token.last_used_at
    assert first is not None
    version = conn.execute("SELECT xmin::text, last_used_at FROM access_tokens").fetchone()
    assert version is not None
    assert version[1] == first
    for _ in range(5):
        assert fdb.auth.tokens.verify(token, "repo:read").access_token.last_used_at == first
    assert conn.execute("SELECT xmin::text, last_used_at FROM access_tokens").fetchone() == version


def test_last_used_is_refreshed_once_a_minute_has_passed(fdb: ForgeDB, conn: Conn) -> None:
    user = make_user(fdb)
    token = fdb.auth.tokens.create(user.id, name="busy", scopes=["repo:read"]).token
    fdb.auth.tokens.verify(token, "repo:read")
    conn.execute("UPDATE access_tokens SET last_used_at = now() - interval '2 minutes'")
    row = conn.execute("SELECT last_used_at FROM access_tokens").fetchone()
    assert row is not None
    refreshed = fdb.auth.tokens.verify(token, "repo:read").access_token.last_used_at
    assert refreshed is not None
    assert refreshed > row[0]
    assert conn.execute("SELECT last_used_at FROM access_tokens").fetchone() == (refreshed,)


# --- revoke and list ----------------------------------------------------------------------------


def test_revoke_marks_the_token_revoked_once(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    created = fdb.auth.tokens.create(user.id, name="a", scopes=["repo:read"])
    revoked = fdb.auth.tokens.revoke(user.id, created.access_token.id)
    assert revoked.id == created.access_token.id
    assert revoked.revoked_at is not None
    again = fdb.auth.tokens.revoke(user.id, created.access_token.id)
    assert again.revoked_at == revoked.revoked_at


def test_revoke_of_another_users_token_is_not_found_and_harmless(
    fdb: ForgeDB, snapshot: Snapshot
) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    created = fdb.auth.tokens.create(owner.id, name="a", scopes=["repo:read"])
    before = snapshot("access_tokens")
    with pytest.raises(NotFound, match=f"access token {created.access_token.id}"):
        fdb.auth.tokens.revoke(other.id, created.access_token.id)
    assert snapshot("access_tokens") == before
    assert fdb.auth.tokens.verify(created.token, "repo:read").user == owner


def test_revoke_of_a_missing_token_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound):
        fdb.auth.tokens.revoke(make_user(fdb).id, 999999)


def test_list_shows_a_users_live_tokens_newest_first(fdb: ForgeDB) -> None:
    user, other = make_user(fdb), make_user(fdb)
    first = fdb.auth.tokens.create(user.id, name="first", scopes=["repo:read"])
    gone = fdb.auth.tokens.create(user.id, name="gone", scopes=["repo:read"])
    last = fdb.auth.tokens.create(user.id, name="last", scopes=["repo:read"])
    fdb.auth.tokens.create(other.id, name="theirs", scopes=["repo:read"])
    fdb.auth.tokens.revoke(user.id, gone.access_token.id)
    assert [t.id for t in fdb.auth.tokens.list(user.id)] == [
        last.access_token.id,
        first.access_token.id,
    ]


def test_list_with_include_revoked_shows_revoked_tokens_too(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    kept = fdb.auth.tokens.create(user.id, name="kept", scopes=["repo:read"])
    gone = fdb.auth.tokens.create(user.id, name="gone", scopes=["repo:read"])
    fdb.auth.tokens.revoke(user.id, gone.access_token.id)
    listed = fdb.auth.tokens.list(user.id, include_revoked=True)
    assert [(t.id, t.revoked_at is not None) for t in listed] == [
        (gone.access_token.id, True),
        (kept.access_token.id, False),
    ]
