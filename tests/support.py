"""Helpers shared by the domain tests: users, signed SIWE messages, repositories."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from forge_db import ForgeDB
from forge_db.ethereum import SiweMessage, checksum_address, format_siwe_message
from forge_db.repositories import Repository
from forge_db.users import User

DOMAIN = "forge.example"
_names = itertools.count(1)


def make_user(db: ForgeDB, prefix: str = "user", **options: Any) -> User:
    """A fresh active user with a unique name."""
    return db.users.create(username=f"{prefix}{next(_names)}", **options)


def make_repository(
    db: ForgeDB, owner: User, *, private: bool = False, **options: Any
) -> Repository:
    """A fresh repository owned by ``owner``."""
    return db.repositories.create(
        owner_id=owner.id, name=f"repo{next(_names)}", private=private, **options
    )


class Wallet:
    """A throwaway Ethereum key that signs sign-in messages."""

    def __init__(self) -> None:
        self.account = Account.create()
        self.address = checksum_address(self.account.address.lower())

    def message(self, nonce: str, **terms: Any) -> str:
        now = datetime.now(UTC).replace(microsecond=0)
        fields: dict[str, Any] = {
            "scheme": "https",
            "domain": DOMAIN,
            "address": self.address,
            "statement": "Sign in to the forge.",
            "uri": f"https://{DOMAIN}/login",
            "chain_id": 1,
            "nonce": nonce,
            "issued_at": now,
            "expiration_time": now + timedelta(minutes=5),
        }
        fields.update(terms)
        return format_siwe_message(SiweMessage(**fields))

    def sign(self, text: str) -> str:
        signed = Account.sign_message(encode_defunct(text=text), self.account.key)
        return "0x" + bytes(signed.signature).hex()
