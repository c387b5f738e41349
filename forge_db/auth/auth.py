"""``db.auth``: Sign-In with Ethereum and the sessions it opens.

Secrets are shown once and never stored: the database keeps SHA-256 digests. Every refusal is
``AuthenticationFailed`` with a stable ``reason`` and leaves the database unchanged; a credential
the client sent (message, signature, session token) is never ``InvalidInput``, however malformed.
"""

from __future__ import annotations

import builtins
import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from ..errors import AuthenticationFailed
from ..ethereum import SiweMessage, parse_siwe_message, recover_signer
from ..inputs import AwareTime, Credential, Duration, Id, IpText, Text, WalletAddress
from ..query import (
    Namespace,
    Query,
    R,
    Result,
    Shape,
    affected,
    many,
    model_columns,
    read,
    rowcount,
    scalar,
    write,
)
from ..users.models import User
from ..users.sql import USER_COLUMNS
from .models import AuthenticatedSession, Session, SignIn
from .sql import digest, prefixed, split
from .tokens import Tokens

__all__ = ["Auth"]

NONCE_ALPHABET: Final = string.ascii_letters + string.digits
NONCE_LENGTH: Final = 24  # ~143 bits; EIP-4361 asks for 8 alphanumerics, the schema for 16
MAX_SESSION_TOKEN: Final = 256

DEFAULT_NONCE_TTL: Final = timedelta(minutes=10)
DEFAULT_SESSION_IDLE: Final = timedelta(days=7)
DEFAULT_SESSION_MAX_AGE: Final = timedelta(days=30)
DEFAULT_CLOCK_SKEW: Final = timedelta(minutes=1)


def _no_spaces(domain: str) -> str:
    if any(c.isspace() for c in domain):
        raise ValueError("must not contain spaces")
    return domain


Domain = Annotated[
    str,
    Text(253, min_length=1, controls=False, refine=_no_spaces, sample="forge.example"),
]
UserAgent = Annotated[str, Text(1024, sample="agent")]
Scheme = Annotated[str, Text(32, min_length=1, single_line=True, sample="https")]
Uri = Annotated[str, Text(2048, min_length=1, single_line=True, sample="https://forge.example")]

SESSION_COLUMNS: Final = (
    "id, user_id, created_at, expires_at, absolute_expires_at, last_seen_at, user_agent, ip, "
    "revoked_at"
)

_GET_SESSION: Final = f"""
    WITH found AS (
        SELECT {prefixed("s", SESSION_COLUMNS, "s_")}, s.idle_timeout,
               {prefixed("u", USER_COLUMNS, "u_")}
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

# One statement: consume the nonce exactly once, find or create the wallet's user (a server-side
# function that adopts a racing first sign-in's row), open the session.
_SIGN_IN: Final = f"""
    WITH existing AS (
        SELECT id, active FROM users WHERE wallet_address = %(address)s
    ), nonce AS (
        UPDATE siwe_nonces SET consumed_at = now()
        WHERE nonce = %(nonce)s AND consumed_at IS NULL AND expires_at > now()
          AND (domain IS NULL OR lower(domain) = lower(%(domain)s))
          AND (address IS NULL OR address = %(address)s)
          AND NOT EXISTS (SELECT 1 FROM existing WHERE NOT active)
        RETURNING nonce
    ), found AS MATERIALIZED (
        SELECT find_or_create_wallet_user(%(address)s) AS w FROM nonce
    ), signed_in AS (
        SELECT (w).id, (w).username, (w).wallet_address, (w).display_name, (w).active,
               (w).created_at, (w).updated_at, (w).created
        FROM found
    ), session AS (
        INSERT INTO auth_sessions (user_id, token_digest, expires_at, absolute_expires_at,
                                   idle_timeout, user_agent, ip)
        SELECT id, %(digest)s, now() + least(%(idle)s, %(max_age)s), now() + %(max_age)s,
               %(idle)s, %(user_agent)s, %(ip)s
        FROM signed_in WHERE active
        RETURNING {SESSION_COLUMNS}
    )
    SELECT EXISTS (SELECT 1 FROM existing WHERE NOT active)
               OR EXISTS (SELECT 1 FROM signed_in WHERE NOT active) AS user_inactive,
           u.created AS created_user,
           {prefixed("u", USER_COLUMNS, "u_")},
           {prefixed("s", SESSION_COLUMNS, "s_")}
    FROM (SELECT 1) AS always
    LEFT JOIN signed_in AS u ON true
    LEFT JOIN session AS s ON true
"""


def _session_token(token: Any) -> bytes:
    """The digest of a client's session token; a malformed one is ``session_invalid``."""
    if type(token) is not str or not 0 < len(token) <= MAX_SESSION_TOKEN:
        raise AuthenticationFailed("session_invalid", "no such session")
    try:
        return digest(token)
    except UnicodeEncodeError:
        raise AuthenticationFailed("session_invalid", "no such session") from None


class Auth(Namespace[R]):
    """Sign-In with Ethereum and sessions; ``tokens`` holds personal access tokens."""

    tokens: Tokens[R]

    # --- Sign-In with Ethereum --------------------------------------------------------------

    @write
    def create_siwe_nonce(
        self,
        *,
        domain: Domain | None = None,
        address: WalletAddress | None = None,
        ttl: Duration = DEFAULT_NONCE_TTL,
    ) -> Query[str]:
        """A fresh single-use nonce for a sign-in message, optionally bound to a domain/wallet."""
        return Query(
            """
            INSERT INTO siwe_nonces (nonce, domain, address, expires_at)
            VALUES (%(nonce)s, %(domain)s, %(address)s, now() + %(ttl)s)
            RETURNING nonce
            """,
            {
                "nonce": "".join(secrets.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH)),
                "domain": domain,
                "address": address,
                "ttl": ttl,
            },
            scalar(str),
        )

    @write
    def sign_in_with_ethereum(
        self,
        message: Credential,
        signature: Credential,
        *,
        domain: Domain,
        scheme: Scheme | None = "https",
        uri: Uri | None = None,
        chain_ids: set[int] | frozenset[int] | None = None,
        user_agent: UserAgent | None = None,
        ip: IpText | None = None,
        session_idle: Duration = DEFAULT_SESSION_IDLE,
        session_max_age: Duration = DEFAULT_SESSION_MAX_AGE,
        clock_skew: Duration = DEFAULT_CLOCK_SKEW,
        now: AwareTime | None = None,
    ) -> Query[SignIn]:
        """Verify a signed EIP-4361 message, then sign its wallet in with a new session.

        The checks run in order: the message's form, domain, scheme, URI, chain, validity window
        (with ``clock_skew``), then the EIP-191 signature; then one statement consumes the nonce
        exactly once, finds or creates the user by wallet and creates the session. Any refusal
        raises ``AuthenticationFailed`` with its ``reason`` and changes nothing.
        """
        parsed = parse_siwe_message(message)
        _check_terms(
            parsed,
            domain=domain,
            scheme=scheme,
            uri=uri,
            chain_ids=frozenset(chain_ids) if chain_ids is not None else None,
            now=now or datetime.now(UTC),
            skew=clock_skew,
        )
        # parse_siwe_message verified the EIP-55 form already: lowercase is all that is left.
        address = parsed.address.lower()
        if recover_signer(message, signature) != address:
            raise AuthenticationFailed("bad_signature", "the signature is not the address's")
        token = secrets.token_urlsafe(32)
        return Query(
            _SIGN_IN,
            {
                "nonce": parsed.nonce,
                "domain": parsed.domain,
                "address": address,
                "digest": digest(token),
                "idle": session_idle,
                "max_age": session_max_age,
                "user_agent": user_agent,
                "ip": ip,
            },
            _sign_in_shape(token),
        )

    @write
    def purge_expired_nonces(self) -> Query[int]:
        """Delete nonces that expired or were consumed; return how many."""
        return Query(
            "DELETE FROM siwe_nonces WHERE expires_at <= now() OR consumed_at IS NOT NULL",
            (),
            rowcount,
        )

    # --- sessions ---------------------------------------------------------------------------

    @write
    def get_session(self, token: Credential) -> Query[AuthenticatedSession]:
        """The live session for ``token`` and its user, sliding its expiry forward when due.

        The expiry moves to ``now + idle`` (never past the absolute limit) once more than half
        of the idle window has passed, and ``last_seen_at`` at most once a minute, so most
        lookups write nothing. Unknown, expired, revoked or deactivated: ``session_invalid``.
        """
        return Query(_GET_SESSION, {"digest": _session_token(token)}, _SESSION_SHAPE)

    @write
    def revoke_session(self, token: Credential) -> Query[bool]:
        """Sign out: revoke the session of ``token``; ``False`` if it was not live."""
        try:
            token_digest = _session_token(token)
        except AuthenticationFailed:
            return Query("SELECT WHERE false", (), affected)
        return Query(
            """
            UPDATE auth_sessions SET revoked_at = now()
            WHERE token_digest = %s AND revoked_at IS NULL
            """,
            (token_digest,),
            affected,
        )

    @write
    def revoke_session_by_id(self, user_id: Id, session_id: Id) -> Query[bool]:
        """Revoke one of the user's sessions (from a "your sessions" page)."""
        return Query(
            """
            UPDATE auth_sessions SET revoked_at = now()
            WHERE id = %s AND user_id = %s AND revoked_at IS NULL
            """,
            (session_id, user_id),
            affected,
        )

    @write
    def revoke_all_sessions(self, user_id: Id) -> Query[int]:
        """Sign the user out everywhere; return how many sessions were revoked."""
        return Query(
            "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
            (user_id,),
            rowcount,
        )

    @read
    def list_sessions(self, user_id: Id) -> Query[builtins.list[Session]]:
        """The user's live sessions, most recently seen first."""
        return Query(
            f"""
            SELECT {SESSION_COLUMNS} FROM auth_sessions
            WHERE user_id = %s AND revoked_at IS NULL AND expires_at > now()
            ORDER BY last_seen_at DESC, id DESC
            """,
            (user_id,),
            many(Session),
        )

    @write
    def purge_expired_sessions(self, *, keep_revoked: Duration = timedelta(days=30)) -> Query[int]:
        """Delete expired sessions, and revoked ones older than ``keep_revoked``; return count."""
        return Query(
            "DELETE FROM auth_sessions WHERE expires_at <= now() OR revoked_at < now() - %s",
            (keep_revoked,),
            rowcount,
        )


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


def _sign_in_shape(token: str) -> Shape[SignIn]:
    def convert(result: Result) -> SignIn:
        row = result.rows[0]
        fields = dict(zip(result.columns, row, strict=True))
        if fields["user_inactive"]:
            raise AuthenticationFailed("user_inactive", "this account is deactivated")
        if fields["s_id"] is None:
            raise AuthenticationFailed(
                "nonce_unknown_or_used", "the nonce is unknown, expired or already used"
            )
        return SignIn(
            user=User.model_validate(split(result, row, "u_")),
            session=Session.model_validate(split(result, row, "s_")),
            token=token,
            created_user=bool(fields["created_user"]),
        )

    # Every column may be NULL here (a refused sign-in returns one row of NULLs).
    columns = {
        "user_inactive": bool,
        "created_user": bool | None,
        **{k: v | None for k, v in model_columns(User, "u_").items()},
        **{k: v | None for k, v in model_columns(Session, "s_").items()},
    }
    return Shape(convert, columns)


def _session(result: Result) -> AuthenticatedSession:
    if not result.rows:
        raise AuthenticationFailed("session_invalid", "no such session, or it has ended")
    row = result.rows[0]
    session = split(result, row, "s_")
    fields = dict(zip(result.columns, row, strict=True))
    if fields["new_expires_at"] is not None:
        session["expires_at"] = fields["new_expires_at"]
        session["last_seen_at"] = fields["new_last_seen_at"]
    return AuthenticatedSession(
        session=Session.model_validate(session),
        user=User.model_validate(split(result, row, "u_")),
    )


_SESSION_SHAPE: Final = Shape(
    _session,
    {
        **model_columns(Session, "s_"),
        **model_columns(User, "u_"),
        "idle_timeout": timedelta,
        "new_expires_at": datetime | None,
        "new_last_seen_at": datetime | None,
    },
)
