"""Models of the auth domain: sessions, sign-ins and access tokens."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address

from pydantic import BaseModel, ConfigDict

from ..users.models import User

__all__ = [
    "AccessToken",
    "AuthenticatedSession",
    "NewAccessToken",
    "Session",
    "SignIn",
    "TokenIdentity",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Session(_Frozen):
    """A signed-in browser session (its token is never stored)."""

    id: int
    user_id: int
    created_at: datetime
    expires_at: datetime
    absolute_expires_at: datetime
    last_seen_at: datetime
    user_agent: str | None
    ip: IPv4Address | IPv6Address | None
    revoked_at: datetime | None


class SignIn(_Frozen):
    """A successful sign-in: the user, the new session, and its token (shown only here)."""

    user: User
    session: Session
    token: str
    created_user: bool


class AuthenticatedSession(_Frozen):
    """A live session and its user, as found by ``get_session``."""

    session: Session
    user: User


class AccessToken(_Frozen):
    """A personal access token's record (the token itself is never stored)."""

    id: int
    user_id: int
    name: str
    token_hint: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class NewAccessToken(_Frozen):
    """A created access token: its record and the token, shown only here."""

    token: str
    access_token: AccessToken


class TokenIdentity(_Frozen):
    """Who a verified access token speaks for."""

    user: User
    access_token: AccessToken
