"""Sign-In with Ethereum over HTTP: a nonce, a signed message, a session cookie."""

from __future__ import annotations

import ipaddress
from datetime import UTC

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from forge_db.users import User

from .deps import DB, CurrentUser, Settings
from .settings import SESSION_COOKIE

router = APIRouter(tags=["auth"])

_MAX_USER_AGENT = 1024  # what forge_db stores; a longer header is cut, not refused


class SignInTerms(BaseModel):
    """What the client puts in the message it asks the wallet to sign.

    The fields are the keyword arguments of ``forge_db.ethereum.siwe_message``, so a Python
    client builds the message with ``siwe_message(address=..., **terms)``.
    """

    domain: str
    scheme: str
    uri: str
    chain_id: int
    nonce: str


class Login(BaseModel):
    """A signed EIP-4361 message."""

    message: str
    signature: str


class SignedIn(BaseModel):
    """Who signed in; the session itself travels in the cookie only."""

    user: User
    created_user: bool


@router.get("/auth/nonce")
async def nonce(db: DB, settings: Settings, address: str | None = None) -> SignInTerms:
    """A fresh single-use nonce (10 minutes), bound to this domain and, if given, the wallet."""
    value = await db.auth.create_siwe_nonce(domain=settings.domain, address=address)
    return SignInTerms(
        domain=settings.domain,
        scheme=settings.scheme,
        uri=settings.origin + "/",
        chain_id=settings.chain_id,
        nonce=value,
    )


@router.post("/auth/login")
async def login(
    body: Login, request: Request, response: Response, db: DB, settings: Settings
) -> SignedIn:
    """Verify the signed message, open a session and set it as an HttpOnly cookie."""
    signed_in = await db.auth.sign_in_with_ethereum(
        body.message,
        body.signature,
        domain=settings.domain,
        scheme=settings.scheme,
        uri=settings.origin,
        chain_ids={settings.chain_id},
        user_agent=request.headers.get("user-agent", "")[:_MAX_USER_AGENT] or None,
        ip=_client_ip(request),
    )
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        # The session's hard limit; its idle expiry slides forward on the server.
        expires=signed_in.session.absolute_expires_at.astimezone(UTC),
        path="/",
        httponly=True,  # scripts on the page never see the token
        samesite="lax",  # other sites' forms cannot post with it
        secure=settings.cookie_is_secure,
    )
    return SignedIn(user=signed_in.user, created_user=signed_in.created_user)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, response: Response, db: DB) -> None:
    """Revoke the session and clear its cookie (also when it had already ended)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token is not None:
        await db.auth.revoke_session(token)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


@router.get("/me")
async def me(user: CurrentUser) -> User:
    """The signed-in user."""
    return user


def _client_ip(request: Request) -> str | None:
    # Behind a proxy this is the proxy's address unless uvicorn runs with --proxy-headers;
    # test clients report a name ("testclient"), which is no address.
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None
