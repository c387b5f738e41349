"""``db.users``: accounts and their email addresses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from .. import validation
from ..errors import InvalidInput, NotFound, register_constraint_messages
from ..ethereum import canonical_address
from ..query import Namespace, Query, R, Result, Shape, many, one, operation, optional

__all__ = ["EmailAddress", "User", "Users"]


class User(BaseModel):
    """An account: a person or an agent."""

    model_config = ConfigDict(frozen=True)

    id: int
    username: str
    wallet_address: str | None
    display_name: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class EmailAddress(BaseModel):
    """One of a user's email addresses."""

    model_config = ConfigDict(frozen=True)

    id: int
    user_id: int
    email: str
    verified: bool
    verified_at: datetime | None
    is_primary: bool
    created_at: datetime


register_constraint_messages(
    {
        "users_username_lower_key": "a user with this username",
        "users_wallet_address_key": "a user with this wallet address",
        "users_username_check": "username: 1-39 letters, digits or single inner hyphens",
        "users_username_reserved_check": "usernames of the form eth-<16 hex> are reserved",
        "users_display_name_check": "display name: at most 255 characters",
        "email_addresses_email_lower_key": "this email address is already in use",
        "email_addresses_email_check": "email address: user@domain, 3-254 characters",
        "email_addresses_one_primary_excl": "a user has at most one primary email address",
    }
)

USER_COLUMNS: Final = "id, username, wallet_address, display_name, active, created_at, updated_at"
_EMAIL_COLUMNS: Final = "id, user_id, email, verified, verified_at, is_primary, created_at"
_UNSET: Any = object()


def _email(value: Any) -> str:
    email = validation.text(value, "email", max_length=254, min_length=3, strip=True)
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise InvalidInput("email must look like user@domain", field="email")
    return email


def _display_name(value: Any) -> str | None:
    return validation.optional_text(value, "display_name", max_length=255, single_line=True)


def _missing_user(user_id: int) -> str:
    return f"user {user_id} not found"


class Users(Namespace[R]):
    """Accounts: create, find, update, deactivate; email addresses."""

    __slots__ = ()

    @operation
    def create(
        self,
        *,
        username: str,
        wallet_address: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> Query[User]:
        """Create a user (and, when given, their primary email address, unverified)."""
        params = {
            "username": validation.username(username),
            "wallet": canonical_address(wallet_address) if wallet_address is not None else None,
            "display_name": _display_name(display_name),
            "email": _email(email) if email is not None else None,
        }
        return Query(
            f"""
            WITH created AS (
                INSERT INTO users (username, wallet_address, display_name)
                VALUES (%(username)s, %(wallet)s, %(display_name)s)
                RETURNING {USER_COLUMNS}
            ), email AS (
                INSERT INTO email_addresses (user_id, email, is_primary)
                SELECT id, %(email)s, true FROM created WHERE %(email)s::text IS NOT NULL
            )
            SELECT {USER_COLUMNS} FROM created
            """,
            params,
            one(User, "user not created"),
        )

    @operation
    def get(self, user_id: int) -> Query[User]:
        """The user with this id; ``NotFound`` otherwise."""
        validation.identifier(user_id, "user_id")
        return Query(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = %s",
            (user_id,),
            one(User, _missing_user(user_id)),
        )

    @operation
    def find_by_username(self, username: str) -> Query[User | None]:
        """The user with this username, compared case-insensitively, or ``None``."""
        name = validation.text(username, "username", max_length=39)
        return Query(
            f"SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower(%s)",
            (name,),
            optional(User),
        )

    @operation
    def find_by_wallet(self, address: str) -> Query[User | None]:
        """The user signing in with this wallet (any EIP-55 valid spelling), or ``None``."""
        return Query(
            f"SELECT {USER_COLUMNS} FROM users WHERE wallet_address = %s",
            (canonical_address(address, "address"),),
            optional(User),
        )

    @operation
    def find_by_email(self, email: str) -> Query[User | None]:
        """The user owning this email address (case-insensitive), or ``None``."""
        return Query(
            f"""
            SELECT {", ".join("u." + c for c in USER_COLUMNS.split(", "))}
            FROM email_addresses e JOIN users u ON u.id = e.user_id
            WHERE lower(e.email) = lower(%s)
            """,
            (_email(email),),
            optional(User),
        )

    @operation
    def update_profile(
        self,
        user_id: int,
        *,
        username: str = _UNSET,
        display_name: str | None = _UNSET,
    ) -> Query[User]:
        """Change the username and/or display name (``display_name=None`` clears it)."""
        validation.identifier(user_id, "user_id")
        params = {
            "id": user_id,
            "set_username": username is not _UNSET,
            "username": validation.username(username) if username is not _UNSET else None,
            "set_display_name": display_name is not _UNSET,
            "display_name": _display_name(display_name) if display_name is not _UNSET else None,
        }
        return Query(
            f"""
            UPDATE users SET
                username = CASE WHEN %(set_username)s THEN %(username)s ELSE username END,
                display_name = CASE WHEN %(set_display_name)s THEN %(display_name)s
                                    ELSE display_name END
            WHERE id = %(id)s
            RETURNING {USER_COLUMNS}
            """,
            params,
            one(User, _missing_user(user_id)),
        )

    @operation
    def deactivate(self, user_id: int) -> Query[User]:
        """Deactivate: no sign-in, and every session and access token is revoked at once."""
        validation.identifier(user_id, "user_id")
        return Query(
            f"""
            WITH sessions AS (
                UPDATE auth_sessions SET revoked_at = now()
                WHERE user_id = %(id)s AND revoked_at IS NULL
            ), tokens AS (
                UPDATE access_tokens SET revoked_at = now()
                WHERE user_id = %(id)s AND revoked_at IS NULL
            )
            UPDATE users SET active = false WHERE id = %(id)s
            RETURNING {USER_COLUMNS}
            """,
            {"id": user_id},
            one(User, _missing_user(user_id)),
        )

    @operation
    def reactivate(self, user_id: int) -> Query[User]:
        """Allow a deactivated user to sign in again (old sessions and tokens stay revoked)."""
        validation.identifier(user_id, "user_id")
        return Query(
            f"UPDATE users SET active = true WHERE id = %s RETURNING {USER_COLUMNS}",
            (user_id,),
            one(User, _missing_user(user_id)),
        )

    # --- email addresses ---------------------------------------------------------------------

    @operation
    def add_email(self, user_id: int, email: str, *, primary: bool = False) -> Query[EmailAddress]:
        """Add an unverified address; ``primary=True`` makes it primary in the same statement."""
        validation.identifier(user_id, "user_id")
        return Query(
            f"""
            WITH demoted AS (
                UPDATE email_addresses SET is_primary = false
                WHERE %(primary)s AND user_id = %(user_id)s AND is_primary
            )
            INSERT INTO email_addresses (user_id, email, is_primary)
            VALUES (%(user_id)s, %(email)s, %(primary)s)
            RETURNING {_EMAIL_COLUMNS}
            """,
            {"user_id": user_id, "email": _email(email), "primary": bool(primary)},
            one(EmailAddress, "email address not added"),
        )

    @operation
    def list_emails(self, user_id: int) -> Query[list[EmailAddress]]:
        """A user's addresses, primary first, then in the order added."""
        validation.identifier(user_id, "user_id")
        return Query(
            f"""
            SELECT {_EMAIL_COLUMNS} FROM email_addresses
            WHERE user_id = %s ORDER BY is_primary DESC, id
            """,
            (user_id,),
            many(EmailAddress),
        )

    @operation
    def verify_email(self, user_id: int, email_id: int) -> Query[EmailAddress]:
        """Mark the address verified (idempotent: the first verification time is kept)."""
        validation.identifier(user_id, "user_id")
        validation.identifier(email_id, "email_id")
        return Query(
            f"""
            UPDATE email_addresses SET verified_at = coalesce(verified_at, now())
            WHERE id = %s AND user_id = %s
            RETURNING {_EMAIL_COLUMNS}
            """,
            (email_id, user_id),
            one(EmailAddress, f"email address {email_id} of user {user_id} not found"),
        )

    @operation
    def set_primary_email(self, user_id: int, email_id: int) -> Query[EmailAddress]:
        """Make a verified address the primary one; the previous primary stops being primary."""
        validation.identifier(user_id, "user_id")
        validation.identifier(email_id, "email_id")
        # One UPDATE flips both rows; the one-primary rule is a deferrable constraint checked
        # at the end of the statement, so the order in which rows are updated does not matter.
        return Query(
            f"""
            UPDATE email_addresses SET is_primary = (id = %(email_id)s)
            WHERE user_id = %(user_id)s
              AND (is_primary OR id = %(email_id)s)
              AND EXISTS (SELECT 1 FROM email_addresses
                          WHERE id = %(email_id)s AND user_id = %(user_id)s AND verified)
            RETURNING {_EMAIL_COLUMNS}
            """,
            {"user_id": user_id, "email_id": email_id},
            _primary_of(email_id, user_id),
        )

    @operation
    def remove_email(self, user_id: int, email_id: int) -> Query[EmailAddress]:
        """Remove an address; the primary one cannot be removed while others remain."""
        validation.identifier(user_id, "user_id")
        validation.identifier(email_id, "email_id")
        return Query(
            f"""
            DELETE FROM email_addresses
            WHERE id = %(email_id)s AND user_id = %(user_id)s
              AND (NOT is_primary OR NOT EXISTS (
                      SELECT 1 FROM email_addresses
                      WHERE user_id = %(user_id)s AND id <> %(email_id)s))
            RETURNING {_EMAIL_COLUMNS}
            """,
            {"user_id": user_id, "email_id": email_id},
            one(
                EmailAddress,
                f"email address {email_id} of user {user_id} not found, or it is the primary "
                "address while others remain",
            ),
        )


def _primary_of(email_id: int, user_id: int) -> Shape[EmailAddress]:
    rows_to_models = many(EmailAddress)

    def shape(result: Result) -> EmailAddress:
        for address in rows_to_models(result):
            if address.id == email_id:
                return address
        raise NotFound(f"email address {email_id} of user {user_id} not found or not verified")

    return shape
