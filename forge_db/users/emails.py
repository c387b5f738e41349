"""``db.users.emails``: a user's email addresses: add, verify, make primary, remove."""

from __future__ import annotations

import builtins
from typing import Final

from ..errors import NotFound, register_constraint_messages
from ..inputs import Email, Flag, Id
from ..query import Namespace, Query, R, Result, Shape, many, one, read, write
from .models import EmailAddress

__all__ = ["Emails"]

register_constraint_messages(
    {
        "email_addresses_email_lower_key": "this email address is already in use",
        "email_addresses_email_check": "email address: user@domain, 3-254 characters",
        "email_addresses_one_primary_excl": "a user has at most one primary email address",
    }
)

_COLUMNS: Final = "id, user_id, email, verified, verified_at, is_primary, created_at"


def _missing(user_id: int, email_id: int) -> str:
    return f"email address {email_id} of user {user_id} not found"


class Emails(Namespace[R]):
    """A user's email addresses; at most one is primary, and only a verified one can become so."""

    @write
    def add(self, user_id: Id, email: Email, *, primary: Flag = False) -> Query[EmailAddress]:
        """Add an unverified address; ``primary=True`` makes it primary in the same statement."""
        return Query(
            f"""
            WITH demoted AS (
                UPDATE email_addresses SET is_primary = false
                WHERE %(primary)s AND user_id = %(user_id)s AND is_primary
            )
            INSERT INTO email_addresses (user_id, email, is_primary)
            VALUES (%(user_id)s, %(email)s, %(primary)s)
            RETURNING {_COLUMNS}
            """,
            {"user_id": user_id, "email": email, "primary": primary},
            one(EmailAddress, "email address not added"),
        )

    @read
    def list(self, user_id: Id) -> Query[builtins.list[EmailAddress]]:
        """A user's addresses, primary first, then in the order added."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM email_addresses
            WHERE user_id = %s ORDER BY is_primary DESC, id
            """,
            (user_id,),
            many(EmailAddress),
        )

    @write
    def verify(self, user_id: Id, email_id: Id) -> Query[EmailAddress]:
        """Mark the address verified (idempotent: the first verification time is kept)."""
        return Query(
            f"""
            UPDATE email_addresses SET verified_at = coalesce(verified_at, now())
            WHERE id = %s AND user_id = %s
            RETURNING {_COLUMNS}
            """,
            (email_id, user_id),
            one(EmailAddress, _missing(user_id, email_id)),
        )

    @write
    def set_primary(self, user_id: Id, email_id: Id) -> Query[EmailAddress]:
        """Make a verified address the primary one; the previous primary stops being primary."""
        # One UPDATE flips both rows; the one-primary rule is a deferrable constraint checked
        # at the end of the statement, so the order in which rows are updated does not matter.
        return Query(
            f"""
            UPDATE email_addresses SET is_primary = (id = %(email_id)s)
            WHERE user_id = %(user_id)s
              AND (is_primary OR id = %(email_id)s)
              AND EXISTS (SELECT 1 FROM email_addresses
                          WHERE id = %(email_id)s AND user_id = %(user_id)s AND verified)
            RETURNING {_COLUMNS}
            """,
            {"user_id": user_id, "email_id": email_id},
            _primary_of(email_id, user_id),
        )

    @write
    def remove(self, user_id: Id, email_id: Id) -> Query[EmailAddress]:
        """Remove an address; the primary one cannot be removed while others remain."""
        return Query(
            f"""
            DELETE FROM email_addresses
            WHERE id = %(email_id)s AND user_id = %(user_id)s
              AND (NOT is_primary OR NOT EXISTS (
                      SELECT 1 FROM email_addresses
                      WHERE user_id = %(user_id)s AND id <> %(email_id)s))
            RETURNING {_COLUMNS}
            """,
            {"user_id": user_id, "email_id": email_id},
            one(
                EmailAddress,
                f"{_missing(user_id, email_id)}, or it is the primary address while others remain",
            ),
        )


def _primary_of(email_id: int, user_id: int) -> Shape[EmailAddress]:
    rows_to_models = many(EmailAddress)

    def convert(result: Result) -> EmailAddress:
        for address in rows_to_models.convert(result):
            if address.id == email_id:
                return address
        raise NotFound(f"{_missing(user_id, email_id)} or not verified")

    return Shape(convert, rows_to_models.columns)
