"""``db.auth``: Sign-In with Ethereum, sessions and access tokens.

Secrets are shown once and never stored: the database keeps SHA-256 digests. Every refusal is
``AuthenticationFailed`` with a stable ``reason`` and leaves the database unchanged.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from .. import validation
from ..errors import (
    AuthenticationFailed,
    InvalidInput,
    PermissionDenied,
    register_constraint_messages,
)
from ..ethereum import SiweMessage, canonical_address, parse_siwe_message, recover_signer
from ..query import Namespace, Query, R, Result, Shape, many, one, operation, rowcount, scalar
from .accounts import USER_COLUMNS, User

__all__ = [
    "ACCESS_TOKEN_PREFIX",
    "SCOPES",
    "AccessToken",
    "Auth",
    "AuthenticatedSession",
    "NewAccessToken",
    "Session",
    "SignIn",
    "TokenIdentity",
]

NONCE_ALPHABET: Final = string.ascii_letters + string.digits
NONCE_LENGTH: Final = 24  # ~143 bits; EIP-4361 asks for at least 8 alphanumerics
ACCESS_TOKEN_PREFIX: Final = "fdb_"  # noqa: S105 - a public prefix, lets secret scanners recognise a leaked token
_TOKEN_BODY: Final = 30  # base62 characters: ~178 bits of randomness
_TOKEN_CHECK: Final = 6  # base62 CRC32 of the body: typos are refused without a query

# Scope vocabulary, mirrored by the access_tokens_scopes_check constraint. A scope also grants
# the scopes it implies: admin everything, :admin its :write, :write its :read.
SCOPES: Final = frozenset(
    {
        "repo:read",
        "repo:write",
        "repo:admin",
        "issues:read",
        "issues:write",
        "user:read",
        "user:write",
        "workflows:write",
        "admin",
    }
)
_IMPLIES: Final = {
    "repo:admin": {"repo:write", "repo:read"},
    "repo:write": {"repo:read"},
    "issues:write": {"issues:read"},
    "user:write": {"user:read"},
}

DEFAULT_NONCE_TTL: Final = timedelta(minutes=10)
DEFAULT_SESSION_IDLE: Final = timedelta(days=7)
DEFAULT_SESSION_MAX_AGE: Final = timedelta(days=30)
DEFAULT_CLOCK_SKEW: Final = timedelta(minutes=1)

register_constraint_messages(
    {
        "access_tokens_user_id_name_lower_key": "an access token with this name",
        "access_tokens_scopes_check": "scopes must come from the fixed vocabulary",
        "access_tokens_name_check": "token name: 1-100 characters",
    }
)


class Session(BaseModel):
    """A signed-in browser session (its token is never stored)."""

    model_config = ConfigDict(frozen=True)

    id: int
    user_id: int
    created_at: datetime
    expires_at: datetime
    absolute_expires_at: datetime
    last_seen_at: datetime
    user_agent: str | None
    ip: IPv4Address | IPv6Address | None
    revoked_at: datetime | None


class SignIn(BaseModel):
    """A successful sign-in: the user, the new session, and its token (shown only here)."""

    model_config = ConfigDict(frozen=True)

    user: User
    session: Session
    token: str
    created_user: bool


class AuthenticatedSession(BaseModel):
    """A live session and its user, as found by ``get_session``."""

    model_config = ConfigDict(frozen=True)

    session: Session
    user: User


class AccessToken(BaseModel):
    """A personal access token's record (the token itself is never stored)."""

    model_config = ConfigDict(frozen=True)

    id: int
    user_id: int
    name: str
    token_hint: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class NewAccessToken(BaseModel):
    """A created access token: its record and the token, shown only here."""

    model_config = ConfigDict(frozen=True)

    token: str
    access_token: AccessToken


class TokenIdentity(BaseModel):
    """Who a verified access token speaks for."""

    model_config = ConfigDict(frozen=True)

    user: User
    access_token: AccessToken


_SESSION_COLUMNS: Final = (
    "id, user_id, created_at, expires_at, absolute_expires_at, last_seen_at, user_agent, ip, "
    "revoked_at"
)
_PAT_COLUMNS: Final = (
    "id, user_id, name, token_hint, scopes, expires_at, last_used_at, revoked_at, created_at"
)


def _prefixed(alias: str, columns: str, prefix: str = "") -> str:
    return ", ".join(f"{alias}.{c} AS {prefix}{c}" for c in columns.split(", "))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _base62(number: int, width: int) -> str:
    alphabet = string.digits + string.ascii_letters
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(alphabet[digit])
    return "".join(reversed(out))


def _token_checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _TOKEN_CHECK)


def new_access_token() -> str:
    """A fresh token: prefix, random base62 body, base62 CRC32 of the body."""
    body = "".join(secrets.choice(string.digits + string.ascii_letters) for _ in range(_TOKEN_BODY))
    return f"{ACCESS_TOKEN_PREFIX}{body}{_token_checksum(body)}"


def _well_formed_token(token: Any) -> bool:
    expected = len(ACCESS_TOKEN_PREFIX) + _TOKEN_BODY + _TOKEN_CHECK
    if not isinstance(token, str) or len(token) != expected:
        return False
    if not token.startswith(ACCESS_TOKEN_PREFIX) or not token[len(ACCESS_TOKEN_PREFIX) :].isalnum():
        return False
    body = token[len(ACCESS_TOKEN_PREFIX) : -_TOKEN_CHECK]
    return _token_checksum(body) == token[-_TOKEN_CHECK:]


def scope_grants(scopes: list[str] | frozenset[str], wanted: str) -> bool:
    """Whether a token holding ``scopes`` may act with scope ``wanted``."""
    if "admin" in scopes or wanted in scopes:
        return True
    return any(wanted in _IMPLIES.get(scope, ()) for scope in scopes)


def _interval(value: Any, field: str) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(f"{field} must be a positive timedelta", field=field)
    return value


def _ip(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(ip_address(value))
    except ValueError:
        raise InvalidInput("ip is not an IP address", field="ip") from None


@lru_cache(maxsize=256)
def _positions(columns: tuple[str, ...], prefix: str) -> tuple[tuple[int, str], ...]:
    return tuple((i, c[len(prefix) :]) for i, c in enumerate(columns) if c.startswith(prefix))


def _split(result: Result, row: tuple[Any, ...], prefix: str) -> dict[str, Any]:
    """The columns of one joined table (``prefix``-named) of a row, prefix removed."""
    return {name: row[i] for i, name in _positions(result.columns, prefix)}


def _check_terms(
    message: SiweMessage,
    *,
    domain: str,
    scheme: str | None,
    uri: str | None,
    chain_ids: frozenset[int] | None,
    now: datetime,
    skew: timedelta,
) -> None:
    if message.domain.lower() != domain.lower():
        raise AuthenticationFailed("domain_mismatch", f"message is for {message.domain!r}")
    if scheme is not None and (message.scheme or "https").lower() != scheme.lower():
        raise AuthenticationFailed("scheme_mismatch", f"message scheme is {message.scheme!r}")
    if uri is not None and not message.uri.startswith(uri):
        raise AuthenticationFailed(
            "uri_mismatch", f"message URI {message.uri!r} is not under {uri!r}"
        )
    if chain_ids is not None and message.chain_id not in chain_ids:
        raise AuthenticationFailed("chain_mismatch", f"chain {message.chain_id} is not accepted")
    if message.expiration_time is not None and now > message.expiration_time + skew:
        raise AuthenticationFailed("expired", "the sign-in message has expired")
    if message.not_before is not None and now < message.not_before - skew:
        raise AuthenticationFailed("not_yet_valid", "the sign-in message is not valid yet")
    if message.issued_at > now + skew:
        raise AuthenticationFailed("not_yet_valid", "the sign-in message is issued in the future")


_GET_SESSION: Final = f"""
            WITH found AS (
                SELECT {_prefixed("s", _SESSION_COLUMNS, "s_")}, s.idle_timeout,
                       {_prefixed("u", USER_COLUMNS, "u_")}
                FROM auth_sessions s JOIN users u ON u.id = s.user_id
                WHERE s.token_digest = %(digest)s AND s.revoked_at IS NULL
                  AND s.expires_at > now() AND u.active
            ), refreshed AS (
                UPDATE auth_sessions a
                SET expires_at = CASE
                        WHEN f.s_expires_at < now() + f.idle_timeout / 2
                        THEN least(now() + f.idle_timeout, f.s_absolute_expires_at)
                        ELSE a.expires_at END,
                    last_seen_at = now()
                FROM found f
                WHERE a.id = f.s_id
                  AND (f.s_expires_at < now() + f.idle_timeout / 2
                       OR f.s_last_seen_at < now() - interval '1 minute')
                RETURNING a.expires_at, a.last_seen_at
            )
            SELECT f.*, r.expires_at AS new_expires_at, r.last_seen_at AS new_last_seen_at
            FROM found f LEFT JOIN refreshed r ON true
            """


class Auth(Namespace[R]):
    """Sign-In with Ethereum, sessions, and personal access tokens."""

    __slots__ = ()

    # --- SIWE -------------------------------------------------------------------------------

    @operation
    def create_siwe_nonce(
        self,
        *,
        domain: str | None = None,
        address: str | None = None,
        ttl: timedelta = DEFAULT_NONCE_TTL,
    ) -> Query[str]:
        """A fresh single-use nonce for a sign-in message, optionally bound to a domain/wallet."""
        nonce = "".join(secrets.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH))
        params = {
            "nonce": nonce,
            "domain": validation.optional_text(domain, "domain", max_length=253, single_line=True),
            "address": canonical_address(address, "address") if address is not None else None,
            "ttl": _interval(ttl, "ttl"),
        }
        return Query(
            """
            INSERT INTO siwe_nonces (nonce, domain, address, expires_at)
            VALUES (%(nonce)s, %(domain)s, %(address)s, now() + %(ttl)s)
            RETURNING nonce
            """,
            params,
            scalar(str),
        )

    @operation
    def sign_in_with_ethereum(
        self,
        message: str,
        signature: str | bytes,
        *,
        domain: str,
        scheme: str | None = "https",
        uri: str | None = None,
        chain_ids: set[int] | frozenset[int] | None = None,
        user_agent: str | None = None,
        ip: str | None = None,
        session_idle: timedelta = DEFAULT_SESSION_IDLE,
        session_max_age: timedelta = DEFAULT_SESSION_MAX_AGE,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        now: datetime | None = None,
    ) -> Query[SignIn]:
        """Verify a signed EIP-4361 message, then sign its wallet in with a new session.

        The checks run in order: the message's form, domain, scheme, URI, chain, validity window
        (with ``clock_skew``), then the EIP-191 signature; then one statement consumes the nonce
        exactly once, finds or creates the user by wallet and creates the session. Any refusal
        raises ``AuthenticationFailed`` with its ``reason`` and changes nothing.
        """
        parsed = parse_siwe_message(message)
        moment = now or datetime.now(UTC)
        if moment.tzinfo is None:
            raise InvalidInput("now must be timezone-aware", field="now")
        _check_terms(
            parsed,
            domain=domain,
            scheme=scheme,
            uri=uri,
            chain_ids=frozenset(chain_ids) if chain_ids is not None else None,
            now=moment,
            skew=clock_skew,
        )
        address = canonical_address(parsed.address, "address")
        if recover_signer(message, signature) != address:
            raise AuthenticationFailed("bad_signature", "the signature is not the address's")
        token = secrets.token_urlsafe(32)
        params = {
            "nonce": parsed.nonce,
            "domain": parsed.domain,
            "address": address,
            # eth- followed by 16 hex digits of the wallet: reserved for this use by a CHECK,
            # so no one can take the name a wallet's first sign-in will need.
            "username": f"eth-{address[2:18]}",
            "digest": _digest(token),
            "idle": _interval(session_idle, "session_idle"),
            "max_age": _interval(session_max_age, "session_max_age"),
            "user_agent": validation.optional_text(user_agent, "user_agent", max_length=1024),
            "ip": _ip(ip),
        }
        return Query(
            f"""
            WITH existing AS (
                SELECT id, active FROM users WHERE wallet_address = %(address)s
            ), nonce AS (
                UPDATE siwe_nonces SET consumed_at = now()
                WHERE nonce = %(nonce)s AND consumed_at IS NULL AND expires_at > now()
                  AND (domain IS NULL OR lower(domain) = lower(%(domain)s))
                  AND (address IS NULL OR address = %(address)s)
                  AND NOT EXISTS (SELECT 1 FROM existing WHERE NOT active)
                RETURNING nonce
            ), created AS (
                INSERT INTO users (username, wallet_address)
                SELECT %(username)s, %(address)s FROM nonce
                WHERE NOT EXISTS (SELECT 1 FROM existing)
                -- A first sign-in racing another one for the same wallet adopts its row.
                ON CONFLICT (wallet_address) DO UPDATE SET wallet_address = EXCLUDED.wallet_address
                RETURNING {USER_COLUMNS}, (xmax = 0) AS inserted
            ), signed_in AS (
                SELECT {USER_COLUMNS}, inserted FROM created
                UNION ALL
                SELECT {USER_COLUMNS}, false FROM users
                WHERE wallet_address = %(address)s
                  AND EXISTS (SELECT 1 FROM nonce) AND EXISTS (SELECT 1 FROM existing)
            ), session AS (
                INSERT INTO auth_sessions (user_id, token_digest, expires_at, absolute_expires_at,
                                           idle_timeout, user_agent, ip)
                SELECT id, %(digest)s, now() + least(%(idle)s, %(max_age)s), now() + %(max_age)s,
                       %(idle)s, %(user_agent)s, %(ip)s
                FROM signed_in
                RETURNING {_SESSION_COLUMNS}
            )
            SELECT EXISTS (SELECT 1 FROM existing WHERE NOT active) AS user_inactive,
                   u.inserted AS created_user,
                   {_prefixed("u", USER_COLUMNS, "u_")},
                   {_prefixed("s", _SESSION_COLUMNS, "s_")}
            FROM (SELECT 1) AS always
            LEFT JOIN signed_in AS u ON true
            LEFT JOIN session AS s ON true
            """,
            params,
            _sign_in_shape(token),
        )

    @operation
    def purge_expired_nonces(self) -> Query[int]:
        """Delete nonces that expired or were consumed; return how many."""
        return Query(
            "DELETE FROM siwe_nonces WHERE expires_at <= now() OR consumed_at IS NOT NULL",
            (),
            rowcount,
        )

    # --- sessions ---------------------------------------------------------------------------

    @operation
    def get_session(self, token: str) -> Query[AuthenticatedSession]:
        """The live session for ``token`` and its user, sliding its expiry forward when due.

        The expiry moves to ``now + idle`` (never past the absolute limit) once more than half
        of the idle window has passed, and ``last_seen_at`` at most once a minute, so most
        lookups write nothing. Unknown, expired, revoked or deactivated: ``session_invalid``.
        """
        if not isinstance(token, str) or not 0 < len(token) <= 256:
            raise AuthenticationFailed("session_invalid", "no such session")
        return Query(
            _GET_SESSION,
            {"digest": _digest(token)},
            _session_shape,
        )

    @operation
    def revoke_session(self, token: str) -> Query[bool]:
        """Sign out: revoke the session of ``token``; ``False`` if it was not live."""
        return Query(
            """
            UPDATE auth_sessions SET revoked_at = now()
            WHERE token_digest = %s AND revoked_at IS NULL
            RETURNING id
            """,
            (_digest(validation.text(token, "token", max_length=256)),),
            _any_row,
        )

    @operation
    def revoke_session_by_id(self, user_id: int, session_id: int) -> Query[bool]:
        """Revoke one of the user's sessions (from a "your sessions" page)."""
        return Query(
            """
            UPDATE auth_sessions SET revoked_at = now()
            WHERE id = %s AND user_id = %s AND revoked_at IS NULL
            RETURNING id
            """,
            (
                validation.identifier(session_id, "session_id"),
                validation.identifier(user_id, "user_id"),
            ),
            _any_row,
        )

    @operation
    def revoke_all_sessions(self, user_id: int) -> Query[int]:
        """Sign the user out everywhere; return how many sessions were revoked."""
        return Query(
            "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
            (validation.identifier(user_id, "user_id"),),
            rowcount,
        )

    @operation
    def list_sessions(self, user_id: int) -> Query[list[Session]]:
        """The user's live sessions, most recently seen first."""
        return Query(
            f"""
            SELECT {_SESSION_COLUMNS} FROM auth_sessions
            WHERE user_id = %s AND revoked_at IS NULL AND expires_at > now()
            ORDER BY last_seen_at DESC, id DESC
            """,
            (validation.identifier(user_id, "user_id"),),
            many(Session),
        )

    @operation
    def purge_expired_sessions(self, *, keep_revoked: timedelta = timedelta(days=30)) -> Query[int]:
        """Delete expired sessions, and revoked ones older than ``keep_revoked``; return count."""
        return Query(
            """
            DELETE FROM auth_sessions
            WHERE expires_at <= now() OR revoked_at < now() - %s
            """,
            (_interval(keep_revoked, "keep_revoked"),),
            rowcount,
        )

    # --- access tokens ----------------------------------------------------------------------

    @operation
    def create_access_token(
        self,
        user_id: int,
        *,
        name: str,
        scopes: list[str] | set[str] | tuple[str, ...],
        expires_in: timedelta | None = None,
    ) -> Query[NewAccessToken]:
        """Create a named, scoped token for an active user; the token is returned only here."""
        validation.identifier(user_id, "user_id")
        clean_name = validation.text(
            name, "name", max_length=100, min_length=1, strip=True, single_line=True
        )
        if isinstance(scopes, str) or not scopes:
            raise InvalidInput("scopes must be a non-empty list of scopes", field="scopes")
        wanted = sorted(set(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if unknown:
            raise InvalidInput(f"unknown scopes {unknown}; known: {sorted(SCOPES)}", field="scopes")
        token = new_access_token()
        return Query(
            f"""
            INSERT INTO access_tokens (user_id, name, token_digest, token_hint, scopes, expires_at)
            SELECT id, %(name)s, %(digest)s, %(hint)s, %(scopes)s, now() + %(expires_in)s
            FROM users WHERE id = %(user_id)s AND active
            RETURNING {_PAT_COLUMNS}
            """,
            {
                "user_id": user_id,
                "name": clean_name,
                "digest": _digest(token),
                "hint": token[: len(ACCESS_TOKEN_PREFIX) + 4],
                "scopes": wanted,
                "expires_in": _interval(expires_in, "expires_in")
                if expires_in is not None
                else None,
            },
            _new_token_shape(token, user_id),
        )

    @operation
    def verify_access_token(self, token: str, scope: str) -> Query[TokenIdentity]:
        """The user a token acts for, if it is live and grants ``scope``.

        ``last_used_at`` is refreshed at most once a minute, in the same statement. Refusals:
        ``AuthenticationFailed`` (``token_invalid``, ``token_revoked``, ``token_expired``,
        ``user_inactive``), or ``PermissionDenied`` when the token lacks the scope.
        """
        if scope not in SCOPES:
            raise InvalidInput(f"unknown scope {scope!r}", field="scope")
        if not _well_formed_token(token):
            raise AuthenticationFailed("token_invalid", "not a forge_db access token")
        return Query(
            f"""
            WITH found AS (
                SELECT {_prefixed("t", _PAT_COLUMNS, "t_")},
                       {_prefixed("u", USER_COLUMNS, "u_")}
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
                "digest": _digest(token),
                "granting": sorted(s for s in SCOPES if scope_grants([s], scope)),
            },
            _identity_shape(scope),
        )

    @operation
    def revoke_access_token(self, user_id: int, token_id: int) -> Query[AccessToken]:
        """Revoke one of the user's tokens (idempotent: the first revocation time is kept)."""
        return Query(
            f"""
            UPDATE access_tokens SET revoked_at = coalesce(revoked_at, now())
            WHERE id = %s AND user_id = %s
            RETURNING {_PAT_COLUMNS}
            """,
            (
                validation.identifier(token_id, "token_id"),
                validation.identifier(user_id, "user_id"),
            ),
            one(AccessToken, f"access token {token_id} of user {user_id} not found"),
        )

    @operation
    def list_access_tokens(
        self, user_id: int, *, include_revoked: bool = False
    ) -> Query[list[AccessToken]]:
        """The user's tokens, newest first."""
        return Query(
            f"""
            SELECT {_PAT_COLUMNS} FROM access_tokens
            WHERE user_id = %s AND (%s OR revoked_at IS NULL)
            ORDER BY created_at DESC, id DESC
            """,
            (validation.identifier(user_id, "user_id"), bool(include_revoked)),
            many(AccessToken),
        )


def _any_row(result: Result) -> bool:
    return bool(result.rows)


def _sign_in_shape(token: str) -> Shape[SignIn]:
    def shape(result: Result) -> SignIn:
        row = result.rows[0]
        fields = dict(zip(result.columns, row, strict=True))
        if fields["user_inactive"]:
            raise AuthenticationFailed("user_inactive", "this account is deactivated")
        if fields["s_id"] is None:
            raise AuthenticationFailed(
                "nonce_unknown_or_used", "the nonce is unknown, expired or already used"
            )
        return SignIn(
            user=User.model_validate(_split(result, row, "u_")),
            session=Session.model_validate(_split(result, row, "s_")),
            token=token,
            created_user=bool(fields["created_user"]),
        )

    return shape


def _session_shape(result: Result) -> AuthenticatedSession:
    if not result.rows:
        raise AuthenticationFailed("session_invalid", "no such session, or it has ended")
    row = result.rows[0]
    session = _split(result, row, "s_")
    fields = dict(zip(result.columns, row, strict=True))
    if fields["new_expires_at"] is not None:
        session["expires_at"] = fields["new_expires_at"]
        session["last_seen_at"] = fields["new_last_seen_at"]
    return AuthenticatedSession(
        session=Session.model_validate(session),
        user=User.model_validate(_split(result, row, "u_")),
    )


def _new_token_shape(token: str, user_id: int) -> Shape[NewAccessToken]:
    to_model = one(AccessToken, f"user {user_id} not found or not active")

    def shape(result: Result) -> NewAccessToken:
        return NewAccessToken(token=token, access_token=to_model(result))

    return shape


def _identity_shape(scope: str) -> Shape[TokenIdentity]:
    def shape(result: Result) -> TokenIdentity:
        if not result.rows:
            raise AuthenticationFailed("token_invalid", "unknown access token")
        row = result.rows[0]
        fields = dict(zip(result.columns, row, strict=True))
        token = _split(result, row, "t_")
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
            user=User.model_validate(_split(result, row, "u_")),
            access_token=AccessToken.model_validate(token),
        )

    return shape
