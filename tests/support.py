"""Helpers shared by the domain tests: users, signed SIWE messages, repositories."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from forge_db import ForgeDB
from forge_db.ethereum import SiweMessage, checksum_address, format_siwe_message
from forge_db.inputs import Role
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


@dataclass(frozen=True)
class World:
    """An owner, a writer, a read-only collaborator and a stranger, on a public and a private
    repository (the collaborators hold the same role on both; the stranger holds none)."""

    owner: User
    writer: User
    reader: User
    stranger: User
    repo: Repository
    private: Repository


def make_world(db: ForgeDB) -> World:
    """The people and repositories most domain tests start from (the ``world`` fixture)."""
    owner = make_user(db, "owner")
    writer, reader, stranger = make_user(db, "writer"), make_user(db, "reader"), make_user(db)
    repo = make_repository(db, owner)
    private = make_repository(db, owner, private=True)
    roles: tuple[tuple[User, Role], ...] = ((writer, "write"), (reader, "read"))
    for repository in (repo, private):
        for person, role in roles:
            db.repositories.collaborators.set(
                repository.id, actor_id=owner.id, user_id=person.id, role=role
            )
    return World(owner, writer, reader, stranger, repo, private)
