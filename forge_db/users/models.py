"""Models of the users domain: accounts and their email addresses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = ["EmailAddress", "SshKey", "SshKeyOwner", "User"]


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


class SshKey(BaseModel):
    """One of a user's SSH public keys."""

    model_config = ConfigDict(frozen=True)

    id: int
    user_id: int
    title: str
    key_type: str
    public_key: str
    fingerprint: str
    last_used_at: datetime | None
    created_at: datetime


class SshKeyOwner(BaseModel):
    """What an SSH server needs on a login: the key and its user, with whether they may sign in."""

    model_config = ConfigDict(frozen=True)

    key_id: int
    key_type: str
    fingerprint: str
    title: str
    user_id: int
    username: str
    active: bool
    last_used_at: datetime | None
