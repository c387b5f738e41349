"""``db.auth.tokens``: personal access tokens for agents, bots and scripts.

A token is ``fdb_`` + 30 random base62 characters + a 6-character base62 CRC32 of them, so a
secret scanner recognises a leaked one and a typo is refused without a query. Only its SHA-256
digest is stored.
"""

from __future__ import annotations

import builtins
import secrets
import string
import zlib
from typing import Annotated, Any, Final, Literal, get_args

from ..errors import (
    AuthenticationFailed,
    InvalidInput,
    PermissionDenied,
    register_constraint_messages,
)
from ..inputs import Credential, Duration, Flag, Id, Text
from ..query import Namespace, Query, R, Result, Shape, many, model_columns, one, read, write
from ..users.models import User
from ..users.sql import USER_COLUMNS
from .models import AccessToken, NewAccessToken, TokenIdentity
from .sql import digest, prefixed, split

__all__ = ["ACCESS_TOKEN_PREFIX", "SCOPES", "Scope", "Tokens", "new_access_token", "scope_grants"]

ACCESS_TOKEN_PREFIX: Final = "fdb_"  # noqa: S105 - a public prefix, lets secret scanners recognise a leaked token
_TOKEN_BODY: Final = 30  # base62 characters: ~178 bits of randomness
_TOKEN_CHECK: Final = 6  # base62 CRC32 of the body
_BASE62: Final = string.digits + string.ascii_letters

# The scope vocabulary, mirrored by the access_tokens_scopes_check constraint. A scope also
# grants the scopes it implies: admin everything, :admin its :write, :write its :read.
Scope = Literal[
    "repo:read",
    "repo:write",
    "repo:admin",
    "issues:read",
    "issues:write",
    "user:read",
    "user:write",
    "workflows:write",
    "admin",
]
SCOPES: Final[frozenset[str]] = frozenset(get_args(Scope))
_IMPLIES: Final = {
    "repo:admin": {"repo:write", "repo:read"},
    "repo:write": {"repo:read"},
    "issues:write": {"issues:read"},
    "user:write": {"user:read"},
}

register_constraint_messages(
    {
        "access_tokens_user_id_name_lower_key": "an access token with this name",
        "access_tokens_scopes_check": "scopes must come from the fixed vocabulary",
        "access_tokens_name_check": "token name: 1-100 characters",
    }
)

TokenName = Annotated[str, Text(100, min_length=1, strip=True, controls=False, sample="ci")]

_COLUMNS: Final = (
    "id, user_id, name, token_hint, scopes, expires_at, last_used_at, revoked_at, created_at"
)


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _TOKEN_CHECK)


def new_access_token() -> str:
    """A fresh token: prefix, random base62 body, base62 CRC32 of the body."""
    body = "".join(secrets.choice(_BASE62) for _ in range(_TOKEN_BODY))
    return f"{ACCESS_TOKEN_PREFIX}{body}{_checksum(body)}"


def _well_formed(token: Any) -> bool:
    expected = len(ACCESS_TOKEN_PREFIX) + _TOKEN_BODY + _TOKEN_CHECK
    if type(token) is not str or len(token) != expected or not token.isascii():
        return False
    if not token.startswith(ACCESS_TOKEN_PREFIX) or not token[len(ACCESS_TOKEN_PREFIX) :].isalnum():
        return False
    return _checksum(token[len(ACCESS_TOKEN_PREFIX) : -_TOKEN_CHECK]) == token[-_TOKEN_CHECK:]


def scope_grants(scopes: builtins.list[str] | frozenset[str], wanted: str) -> bool:
    """Whether a token holding ``scopes`` may act with scope ``wanted``."""
    if "admin" in scopes or wanted in scopes:
        return True
    return any(wanted in _IMPLIES.get(scope, ()) for scope in scopes)


class Tokens(Namespace[R]):
    """Named, scoped, revocable tokens; the secret is returned once, by ``create``."""

    @write
    def create(
        self,
        user_id: Id,
        *,
        name: TokenName,
        scopes: builtins.list[Scope] | set[Scope] | frozenset[Scope] | tuple[Scope, ...],
        expires_in: Duration | None = None,
    ) -> Query[NewAccessToken]:
        """Create a named, scoped token for an active user; the token is returned only here."""
        if not scopes:
            raise InvalidInput("scopes must name at least one scope", field="scopes")
        token = new_access_token()
        return Query(
            f"""
            INSERT INTO access_tokens (user_id, name, token_digest, token_hint, scopes, expires_at)
            SELECT id, %(name)s, %(digest)s, %(hint)s, %(scopes)s, now() + %(expires_in)s
            FROM users WHERE id = %(user_id)s AND active
            RETURNING {_COLUMNS}
            """,
            {
                "user_id": user_id,
                "name": name,
                "digest": digest(token),
                "hint": token[: len(ACCESS_TOKEN_PREFIX) + 4],
                "scopes": sorted(set(scopes)),
                "expires_in": expires_in,
            },
            _created(token, user_id),
        )

    @write
    def verify(self, token: Credential, scope: Scope) -> Query[TokenIdentity]:
        """The user a token acts for, if it is live and grants ``scope``.

        ``last_used_at`` is refreshed at most once a minute, in the same statement. Refusals:
        ``AuthenticationFailed`` (``token_invalid``, ``token_revoked``, ``token_expired``,
        ``user_inactive``), or ``PermissionDenied`` when the token lacks the scope.
        """
        if not _well_formed(token):
            raise AuthenticationFailed("token_invalid", "not a forge_db access token")
        return Query(
            f"""
            WITH found AS (
                SELECT {prefixed("t", _COLUMNS, "t_")}, {prefixed("u", USER_COLUMNS, "u_")}
                FROM access_tokens t JOIN users u ON u.id = t.user_id
                WHERE t.token_digest = %(digest)s
            ), touched AS (
                UPDATE access_tokens a SET last_used_at = now()
                FROM found f
                WHERE a.id = f.t_id AND f.t_revoked_at IS NULL AND f.u_active
                  AND (f.t_expires_at IS NULL OR f.t_expires_at > now())
                  AND (f.t_last_used_at IS NULL OR f.t_last_used_at < now() - interval '1 minute')
                  AND f.t_scopes && %(granting)s::text[]
                RETURNING a.last_used_at
            )
            SELECT f.*, f.t_expires_at <= now() AS expired,
                   (SELECT last_used_at FROM touched) AS new_last_used_at
            FROM found f
            """,
            {
                "digest": digest(token),
                "granting": sorted(s for s in SCOPES if scope_grants([s], scope)),
            },
            _identity(scope),
        )

    @write
    def revoke(self, user_id: Id, token_id: Id) -> Query[AccessToken]:
        """Revoke one of the user's tokens (idempotent: the first revocation time is kept)."""
        return Query(
            f"""
            UPDATE access_tokens SET revoked_at = coalesce(revoked_at, now())
            WHERE id = %s AND user_id = %s
            RETURNING {_COLUMNS}
            """,
            (token_id, user_id),
            one(AccessToken, f"access token {token_id} of user {user_id} not found"),
        )

    @read
    def list(
        self, user_id: Id, *, include_revoked: Flag = False
    ) -> Query[builtins.list[AccessToken]]:
        """The user's tokens, newest first."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM access_tokens
            WHERE user_id = %s AND (%s OR revoked_at IS NULL)
            ORDER BY created_at DESC, id DESC
            """,
            (user_id, include_revoked),
            many(AccessToken),
        )


def _created(token: str, user_id: int) -> Shape[NewAccessToken]:
    to_model = one(AccessToken, f"user {user_id} not found or not active")

    def convert(result: Result) -> NewAccessToken:
        return NewAccessToken(token=token, access_token=to_model.convert(result))

    return Shape(convert, to_model.columns)


def _identity(scope: str) -> Shape[TokenIdentity]:
    def convert(result: Result) -> TokenIdentity:
        if not result.rows:
            raise AuthenticationFailed("token_invalid", "unknown access token")
        row = result.rows[0]
        fields = dict(zip(result.columns, row, strict=True))
        token = split(result, row, "t_")
        if fields["new_last_used_at"] is not None:
            token["last_used_at"] = fields["new_last_used_at"]
        if token["revoked_at"] is not None:
            raise AuthenticationFailed("token_revoked", "this access token was revoked")
        if fields["expired"]:
            raise AuthenticationFailed("token_expired", "this access token has expired")
        if not fields["u_active"]:
            raise AuthenticationFailed("user_inactive", "this account is deactivated")
        if not scope_grants(token["scopes"], scope):
            raise PermissionDenied(f"this access token does not grant {scope}")
        return TokenIdentity(
            user=User.model_validate(split(result, row, "u_")),
            access_token=AccessToken.model_validate(token),
        )

    columns = {
        **model_columns(AccessToken, "t_"),
        **model_columns(User, "u_"),
        "expired": bool | None,
        "new_last_used_at": Any,
    }
    return Shape(convert, columns)
