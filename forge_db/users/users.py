"""``db.users``: accounts: create, find, update, deactivate."""

from __future__ import annotations

from typing import Final

from ..errors import register_constraint_messages
from ..inputs import UNSET, Email, Id, OptionalLine, Unset, Username, WalletAddress
from ..query import Namespace, Query, R, alias, one, optional, read, write
from .emails import Emails
from .models import User
from .sql import USER_COLUMNS, user_columns
from .ssh_keys import SshKeys

__all__ = ["Users"]

register_constraint_messages(
    {
        "users_username_lower_key": "a user with this username",
        "users_wallet_address_key": "a user with this wallet address",
        "users_username_check": "username: 1-39 letters, digits or single inner hyphens",
        "users_username_reserved_check": (
            "usernames eth-<16 hex> and eth-<31 base-36> are reserved to the wallet they name"
        ),
        "users_display_name_check": "display name: at most 255 characters",
    },
    fields={"users_username_reserved_check": "username"},
)

_FIND_BY_USERNAME: Final = f"SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower(%s)"


def _missing(user_id: int) -> str:
    return f"user {user_id} not found"


class Users(Namespace[R]):
    """Accounts: create, find, update, deactivate; ``emails`` and ``ssh_keys`` hang off it."""

    emails: Emails[R]
    ssh_keys: SshKeys[R]

    add_ssh_key = alias(SshKeys.add)
    find_by_ssh_fingerprint = alias(SshKeys.find_by_fingerprint)
    list_ssh_keys = alias(SshKeys.list)
    remove_ssh_key = alias(SshKeys.remove)

    @write
    def create(
        self,
        *,
        username: Username,
        wallet_address: WalletAddress | None = None,
        display_name: OptionalLine | None = None,
        email: Email | None = None,
    ) -> Query[User]:
        """Create a user (and, when given, their primary email address, unverified)."""
        return Query(
            f"""
            WITH created AS (
                INSERT INTO users (username, wallet_address, display_name)
                VALUES (%(username)s, %(wallet_address)s, %(display_name)s)
                RETURNING {USER_COLUMNS}
            ), email AS (
                INSERT INTO email_addresses (user_id, email, is_primary)
                SELECT id, %(email)s, true FROM created WHERE %(email)s::text IS NOT NULL
            )
            SELECT {USER_COLUMNS} FROM created
            """,
            {
                "username": username,
                "wallet_address": wallet_address,
                "display_name": display_name,
                "email": email,
            },
            one(User, "user not created"),
        )

    @read
    def get(self, user_id: Id) -> Query[User]:
        """The user with this id; ``NotFound`` otherwise."""
        return Query(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = %s",
            (user_id,),
            one(User, _missing(user_id)),
        )

    @read
    def find_by_username(self, username: OptionalLine) -> Query[User | None]:
        """The user with this username, compared case-insensitively, or ``None``."""
        return Query(_FIND_BY_USERNAME, (username,), optional(User))

    @read
    def find_by_wallet(self, address: WalletAddress) -> Query[User | None]:
        """The user signing in with this wallet (any EIP-55 valid spelling), or ``None``."""
        return Query(
            f"SELECT {USER_COLUMNS} FROM users WHERE wallet_address = %s",
            (address,),
            optional(User),
        )

    @read
    def find_by_email(self, email: Email) -> Query[User | None]:
        """The user owning this email address (case-insensitive), or ``None``."""
        return Query(
            f"""
            SELECT {user_columns("u")}
            FROM email_addresses e JOIN users u ON u.id = e.user_id
            WHERE lower(e.email) = lower(%s)
            """,
            (email,),
            optional(User),
        )

    @write
    def update_profile(
        self,
        user_id: Id,
        *,
        username: Username | Unset = UNSET,
        display_name: OptionalLine | Unset | None = UNSET,
    ) -> Query[User]:
        """Change the username and/or display name (``display_name=None`` clears it)."""
        return Query(
            f"""
            UPDATE users SET
                username = CASE WHEN %(set_username)s THEN %(username)s ELSE username END,
                display_name = CASE WHEN %(set_display_name)s THEN %(display_name)s
                                    ELSE display_name END
            WHERE id = %(user_id)s
            RETURNING {USER_COLUMNS}
            """,
            {
                "user_id": user_id,
                "set_username": username is not UNSET,
                "username": None if username is UNSET else username,
                "set_display_name": display_name is not UNSET,
                "display_name": None if display_name is UNSET else display_name,
            },
            one(User, _missing(user_id)),
        )

    @write
    def deactivate(self, user_id: Id) -> Query[User]:
        """Deactivate: no sign-in, and every session and access token is revoked at once."""
        return Query(
            f"""
            WITH sessions AS (
                UPDATE auth_sessions SET revoked_at = now()
                WHERE user_id = %(user_id)s AND revoked_at IS NULL
            ), tokens AS (
                UPDATE access_tokens SET revoked_at = now()
                WHERE user_id = %(user_id)s AND revoked_at IS NULL
            )
            UPDATE users SET active = false WHERE id = %(user_id)s
            RETURNING {USER_COLUMNS}
            """,
            {"user_id": user_id},
            one(User, _missing(user_id)),
        )

    @write
    def reactivate(self, user_id: Id) -> Query[User]:
        """Allow a deactivated user to sign in again (old sessions and tokens stay revoked)."""
        return Query(
            f"UPDATE users SET active = true WHERE id = %s RETURNING {USER_COLUMNS}",
            (user_id,),
            one(User, _missing(user_id)),
        )
