"""The FastAPI example (examples/fastapi_forge), end to end over HTTP, on this test's real database.

Each test starts the app's lifespan (its pool) on the test database and talks to it through
httpx's ASGI transport; every client has its own cookie jar, so each one is a browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from starlette.requests import Request

from examples.fastapi_forge.app import create_app
from examples.fastapi_forge.client import sign_in
from examples.fastapi_forge.deps import get_db
from examples.fastapi_forge.errors import forge_db_error
from examples.fastapi_forge.settings import SESSION_COOKIE, AppSettings
from forge_db import (
    AlreadyExists,
    AuthenticationFailed,
    Conflict,
    ForgeDBError,
    InvalidInput,
    Misconfigured,
    NotFound,
    PermissionDenied,
    SchemaNotReady,
    Unavailable,
)
from forge_db.ethereum import siwe_message

pytestmark = pytest.mark.anyio

ORIGIN = "http://testserver"
Browser = Callable[[], httpx.AsyncClient]
SignedIn = Callable[[], Awaitable[tuple[httpx.AsyncClient, str]]]


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    """The example app, its lifespan running on this test's database."""
    application = create_app(AppSettings(database_url=database_url, origin=ORIGIN))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Browser]:
    """Opens a new client (a browser with an empty cookie jar) on the app."""
    opened: list[httpx.AsyncClient] = []

    def open_one() -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()


@pytest.fixture
def signed_in(browser: Browser) -> SignedIn:
    """A new browser signed in with a fresh wallet, and the wallet's username."""

    async def make() -> tuple[httpx.AsyncClient, str]:
        client = browser()
        body = await sign_in(client, Account.create())
        return client, str(body["user"]["username"])

    return make


def _signature(account: LocalAccount, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


async def _login(client: httpx.AsyncClient, account: LocalAccount, **terms: Any) -> httpx.Response:
    nonce = (await client.get("/auth/nonce")).json()
    message = siwe_message(address=account.address, **{**nonce, **terms})
    return await client.post(
        "/auth/login", json={"message": message, "signature": _signature(account, message)}
    )


async def _repository(client: httpx.AsyncClient, owner: str, *, private: bool = False) -> str:
    response = await client.post("/repos", json={"name": "jj-forge", "private": private})
    assert response.status_code == 201, response.text
    return f"/repos/{owner}/jj-forge"


async def _issue(client: httpx.AsyncClient, repo: str, title: str, body: str = "") -> int:
    response = await client.post(f"{repo}/issues", json={"title": title, "body": body})
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


# --- Sign-In with Ethereum ----------------------------------------------------------------------


async def test_a_signed_message_signs_in_and_sets_an_http_only_session_cookie(
    browser: Browser,
) -> None:
    client, account = browser(), Account.create()
    response = await _login(client, account)
    assert response.status_code == 200, response.text
    assert response.json()["created_user"] is True
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # the origin is http: a Secure cookie would never come back
    me = await client.get("/me")
    assert me.status_code == 200
    assert me.json()["wallet_address"] == account.address.lower()


async def test_the_session_cookie_is_secure_on_an_https_origin(database_url: str) -> None:
    application = create_app(AppSettings(database_url=database_url, origin="https://testserver"))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="https://testserver"
        ) as client,
    ):
        response = await _login(client, Account.create())
        assert response.status_code == 200, response.text
        assert "Secure" in response.headers["set-cookie"]


async def test_the_nonce_names_the_apps_domain_scheme_and_uri(browser: Browser) -> None:
    terms = (await browser().get("/auth/nonce")).json()
    assert terms["domain"] == "testserver"
    assert terms["scheme"] == "http"
    assert terms["uri"] == "http://testserver/"
    assert terms["chain_id"] == 1
    assert len(terms["nonce"]) == 24


async def test_the_same_wallet_signs_in_again_to_the_same_account(browser: Browser) -> None:
    account = Account.create()
    first = (await _login(browser(), account)).json()
    second = (await _login(browser(), account)).json()
    assert second["created_user"] is False
    assert second["user"]["id"] == first["user"]["id"]


async def test_a_signature_by_another_key_is_401_and_sets_no_cookie(browser: Browser) -> None:
    client, account, other = browser(), Account.create(), Account.create()
    terms = (await client.get("/auth/nonce")).json()
    message = siwe_message(address=account.address, **terms)
    response = await client.post(
        "/auth/login", json={"message": message, "signature": _signature(other, message)}
    )
    assert response.status_code == 401
    assert response.json()["reason"] == "bad_signature"
    assert "set-cookie" not in response.headers
    assert (await client.get("/me")).status_code == 401


async def test_a_signed_message_is_refused_the_second_time(browser: Browser) -> None:
    client, account = browser(), Account.create()
    terms = (await client.get("/auth/nonce")).json()
    message = siwe_message(address=account.address, **terms)
    login = {"message": message, "signature": _signature(account, message)}
    assert (await client.post("/auth/login", json=login)).status_code == 200
    replay = await browser().post("/auth/login", json=login)
    assert replay.status_code == 401
    assert replay.json()["reason"] == "nonce_unknown_or_used"


async def test_a_message_for_another_site_is_401_domain_mismatch(browser: Browser) -> None:
    response = await _login(browser(), Account.create(), domain="evil.example")
    assert response.status_code == 401
    assert response.json()["reason"] == "domain_mismatch"


async def test_a_nonce_bound_to_a_wallet_signs_in_only_that_wallet(browser: Browser) -> None:
    client, bound, other = browser(), Account.create(), Account.create()
    terms = (await client.get("/auth/nonce", params={"address": bound.address})).json()
    message = siwe_message(address=other.address, **terms)
    response = await client.post(
        "/auth/login", json={"message": message, "signature": _signature(other, message)}
    )
    assert response.status_code == 401
    assert response.json()["reason"] == "nonce_unknown_or_used"


async def test_a_malformed_wallet_address_for_a_nonce_is_422_naming_it(browser: Browser) -> None:
    response = await browser().get("/auth/nonce", params={"address": "0x123"})
    assert response.status_code == 422
    assert response.json()["field"] == "address"


async def test_logout_revokes_the_session_and_clears_the_cookie(signed_in: SignedIn) -> None:
    client, _ = await signed_in()
    kept = next(cookie for cookie in client.cookies.jar if cookie.name == SESSION_COOKIE)
    response = await client.post("/auth/logout")
    assert response.status_code == 204
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert SESSION_COOKIE not in client.cookies
    missing = await client.get("/me")
    assert missing.status_code == 401
    assert missing.json()["reason"] == "session_missing"
    client.cookies.jar.set_cookie(kept)  # a copy of the cookie kept from before
    revoked = await client.get("/me")
    assert revoked.status_code == 401
    assert revoked.json()["reason"] == "session_invalid"
    assert SESSION_COOKIE not in client.cookies  # the 401 cleared it


async def test_a_write_without_a_session_is_401(browser: Browser) -> None:
    response = await browser().post("/repos", json={"name": "jj-forge"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "authentication_failed",
        "detail": "sign in first: POST /auth/login",
        "reason": "session_missing",
    }


# --- repositories, issues, comments ----------------------------------------------------------


async def test_a_repository_is_created_and_read_with_the_viewers_role(
    signed_in: SignedIn, browser: Browser
) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    assert (await client.get(repo)).json()["viewer_role"] == "admin"
    anonymous = await browser().get(repo)
    assert anonymous.status_code == 200
    assert anonymous.json()["viewer_role"] == "read"  # anyone reads a public repository


async def test_the_same_repository_name_twice_is_409_naming_the_rule(signed_in: SignedIn) -> None:
    client, owner = await signed_in()
    await _repository(client, owner)
    again = await client.post("/repos", json={"name": "jj-forge"})
    assert again.status_code == 409
    assert again.json()["error"] == "already_exists"
    assert again.json()["constraint"]


async def test_an_invalid_value_is_422_naming_the_field(signed_in: SignedIn) -> None:
    client, owner = await signed_in()
    bad_name = await client.post("/repos", json={"name": "no spaces allowed"})
    assert bad_name.status_code == 422
    assert bad_name.json()["field"] == "name"
    repo = await _repository(client, owner)
    blank_title = await client.post(f"{repo}/issues", json={"title": "   "})
    assert blank_title.status_code == 422
    assert blank_title.json()["error"] == "invalid_input"
    assert blank_title.json()["field"] == "title"


async def test_issues_are_created_numbered_and_read(signed_in: SignedIn) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    assert await _issue(client, repo, "Parser crash", "It crashes.") == 1
    assert await _issue(client, repo, "Second") == 2
    issue = (await client.get(f"{repo}/issues/1")).json()
    assert (issue["title"], issue["body"], issue["author"]) == (
        "Parser crash",
        "It crashes.",
        owner,
    )
    assert (await client.get(f"{repo}/issues/3")).status_code == 404


async def test_issues_page_by_the_next_url_and_the_link_header_until_the_end(
    signed_in: SignedIn,
) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    for n in range(1, 8):
        await _issue(client, repo, f"Issue {n}")
    seen: list[int] = []
    url: str | None = f"{repo}/issues?limit=3"
    pages = 0
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["number"] for item in page["items"]]
        pages += 1
        if page["next"] is None:
            assert "link" not in response.headers
        else:
            assert response.headers["link"] == f'<{page["next"]}>; rel="next"'
            assert "limit=3" in page["next"]
        url = page["next"]
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert pages == 3


async def test_a_cursor_presented_with_other_filters_is_422_naming_the_cursor(
    signed_in: SignedIn,
) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    for n in range(3):
        await _issue(client, repo, f"Issue {n}")
    following = (await client.get(f"{repo}/issues?limit=2")).json()["next"]
    response = await client.get(following + "&state=closed")
    assert response.status_code == 422
    assert response.json()["field"] == "cursor"


async def test_an_unknown_state_is_refused_before_any_query(signed_in: SignedIn) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    assert (await client.get(f"{repo}/issues?state=opne")).status_code == 422


async def test_issues_filter_by_label(signed_in: SignedIn) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    label = await client.post(f"{repo}/labels", json={"name": "bug", "color": "#d73a4a"})
    assert label.status_code == 201, label.text
    await client.post(f"{repo}/issues", json={"title": "Crash", "labels": ["bug"]})
    await _issue(client, repo, "Idea")
    page = (await client.get(f"{repo}/issues", params={"labels": ["bug"]})).json()
    assert [item["title"] for item in page["items"]] == ["Crash"]
    assert page["items"][0]["labels"][0]["name"] == "bug"


async def test_search_finds_issues_by_words_and_by_number(signed_in: SignedIn) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    await _issue(client, repo, "Landing queue crashes on empty input")
    await _issue(client, repo, "Bookmark sync is slow")
    words = (await client.get(f"{repo}/issues/search", params={"q": "landing crash"})).json()
    assert [hit["number"] for hit in words["items"]] == [1]
    assert words["items"][0]["rank"] > 0
    number = (await client.get(f"{repo}/issues/search", params={"q": "#2"})).json()
    assert [hit["title"] for hit in number["items"]] == ["Bookmark sync is slow"]


async def test_comments_are_added_and_listed_oldest_first_a_page_at_a_time(
    signed_in: SignedIn,
) -> None:
    client, owner = await signed_in()
    repo = await _repository(client, owner)
    number = await _issue(client, repo, "Discuss")
    for text in ("first", "second", "third"):
        response = await client.post(f"{repo}/issues/{number}/comments", json={"body": text})
        assert response.status_code == 201, response.text
        assert response.json()["author"] == owner
    first = (await client.get(f"{repo}/issues/{number}/comments?limit=2")).json()
    rest = (await client.get(first["next"])).json()
    assert [c["body"] for c in first["items"] + rest["items"]] == ["first", "second", "third"]
    assert rest["next"] is None
    assert (await client.get(f"{repo}/issues/{number}")).json()["comment_count"] == 3


# --- privacy and roles ---------------------------------------------------------------------------


async def test_a_private_repository_is_404_to_a_stranger_and_to_anonymous_visitors(
    signed_in: SignedIn, browser: Browser
) -> None:
    owner_client, owner = await signed_in()
    repo = await _repository(owner_client, owner, private=True)
    await _issue(owner_client, repo, "Embargoed")
    stranger, _ = await signed_in()
    for client in (stranger, browser()):
        for response in (
            await client.get(repo),
            await client.get(f"{repo}/issues"),
            await client.get(f"{repo}/issues/1"),
            await client.get(f"{repo}/issues/search", params={"q": "embargoed"}),
            await client.get(f"{repo}/issues/1/comments"),
        ):
            assert response.status_code == 404, response.url
            assert response.json()["error"] == "not_found"
    writes = (
        await stranger.post(f"{repo}/issues", json={"title": "Let me in"}),
        await stranger.post(f"{repo}/issues/1/comments", json={"body": "hello?"}),
        await stranger.post(f"{repo}/labels", json={"name": "x"}),
    )
    assert [w.status_code for w in writes] == [404, 404, 404]
    assert (await owner_client.get(f"{repo}/issues/1")).status_code == 200


async def test_a_stranger_may_open_an_issue_on_a_public_repository_but_not_add_a_label(
    signed_in: SignedIn,
) -> None:
    owner_client, owner = await signed_in()
    repo = await _repository(owner_client, owner)
    stranger, _ = await signed_in()
    assert await _issue(stranger, repo, "Found a bug") == 1
    label = await stranger.post(f"{repo}/labels", json={"name": "bug"})
    assert label.status_code == 403
    assert label.json()["error"] == "permission_denied"


# --- the error handler and the pool ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code", "extra"),
    [
        (NotFound("issue #9 not found"), 404, "not_found", {}),
        (PermissionDenied("needs write"), 403, "permission_denied", {}),
        (AuthenticationFailed("expired"), 401, "authentication_failed", {"reason": "expired"}),
        (InvalidInput("title: too long", field="title"), 422, "invalid_input", {"field": "title"}),
        (
            AlreadyExists("taken", constraint="r_key"),
            409,
            "already_exists",
            {"constraint": "r_key"},
        ),
        (Conflict("the issue is locked"), 409, "conflict", {}),
        (Unavailable("server gone"), 503, "unavailable", {}),
        (SchemaNotReady("run `forge-db migrate`"), 503, "unavailable", {}),
        (Misconfigured("PgBouncer", field="statement_timeout"), 503, "unavailable", {}),
        (ForgeDBError("a kind without a status yet"), 500, "internal_error", {}),
    ],
)
async def test_the_handler_maps_each_forge_db_error_to_its_status(
    error: ForgeDBError, status: int, code: str, extra: dict[str, str]
) -> None:
    response = await forge_db_error(Request({"type": "http", "headers": []}), error)
    assert response.status_code == status
    assert httpx.Response(status, content=bytes(response.body)).json() == {
        "error": code,
        "detail": str(error),
        **extra,
    }
    assert ("retry-after" in response.headers) == (status == 503)


async def test_a_closed_pool_answers_503_with_retry_after(app: FastAPI, browser: Browser) -> None:
    client = browser()
    assert (await client.get("/health")).json()["status"] == "ok"
    pool = get_db(Request({"type": "http", "app": app, "headers": []}))
    await pool.close()
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"] == "5"


async def test_an_unreachable_database_fails_the_start_not_the_first_request() -> None:
    application = create_app(
        AppSettings(database_url="postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    )
    with pytest.raises(Unavailable, match=r"127\.0\.0\.1"):
        async with application.router.lifespan_context(application):
            pass


def test_the_origin_setting_must_be_scheme_and_host() -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        AppSettings(origin="localhost:8000")
    assert AppSettings(origin="https://forge.example/").domain == "forge.example"


# --- the whole first hour, as the example's README tells it --------------------------------------


async def test_first_hour_sign_in_create_page_search_comment_and_privacy(
    browser: Browser,
) -> None:
    alice = browser()
    user = (await sign_in(alice, Account.create()))["user"]["username"]
    assert (await alice.get("/me")).json()["username"] == user
    repo = await _repository(alice, user, private=True)
    for n in range(1, 6):
        await _issue(alice, repo, f"Landing crash number {n}" if n == 3 else f"Chore {n}")
    first = await alice.get(f"{repo}/issues?limit=2")
    second = await alice.get(first.json()["next"])
    assert [i["number"] for i in first.json()["items"] + second.json()["items"]] == [5, 4, 3, 2]
    hits = (await alice.get(f"{repo}/issues/search", params={"q": "landing crash"})).json()
    assert [hit["number"] for hit in hits["items"]] == [3]
    comment = await alice.post(f"{repo}/issues/3/comments", json={"body": "On it."})
    assert comment.status_code == 201
    stranger = browser()
    await sign_in(stranger, Account.create())
    assert (await stranger.get(f"{repo}/issues/3")).status_code == 404
    assert (await alice.post("/auth/logout")).status_code == 204
    assert (await alice.get(f"{repo}/issues/3")).status_code == 404


# --- The landing queue, read side -----------------------------------------------------------


async def test_the_landing_queue_is_read_by_its_viewers_and_404_to_strangers(
    app: FastAPI, signed_in: SignedIn, browser: Browser
) -> None:
    owner_client, owner = await signed_in()
    repo = await _repository(owner_client, owner, private=True)
    db = app.state.db
    user = await db.users.find_by_username(owner)
    assert user is not None
    repository = await db.repositories.get(owner, "jj-forge", viewer_id=user.id)
    submitted = await db.landing.submit(
        repository.id,
        actor_id=user.id,
        change_id="k" * 32,
        commit_id="a" * 40,
        bookmark="main",
        title="Speed up the parser",
    )
    number = submitted.number
    queue = await owner_client.get(f"{repo}/landing/queues/main")
    assert queue.status_code == 200, queue.text
    assert [(e["number"], e["position"]) for e in queue.json()["items"]] == [(number, 1)]
    listed = await owner_client.get(f"{repo}/landing")
    assert [r["number"] for r in listed.json()["items"]] == [number]
    one = await owner_client.get(f"{repo}/landing/{number}")
    assert one.json()["title"] == "Speed up the parser"
    history = await owner_client.get(f"{repo}/landing/{number}/history")
    assert [event["kind"] for event in history.json()] == ["submitted"]
    assert (await owner_client.get(f"{repo}/landing/{number}/reviews")).json() == []
    summary = await owner_client.get(f"{repo}/landing/{number}/summary")
    assert summary.status_code == 200, summary.text
    stranger, _ = await signed_in()
    for client in (stranger, browser()):
        for path in ("/landing/queues/main", "/landing", f"/landing/{number}",
                     f"/landing/{number}/history", f"/landing/{number}/reviews",
                     f"/landing/{number}/summary"):  # fmt: skip
            response = await client.get(repo + path)
            assert response.status_code == 404, response.url
    assert (await owner_client.get(f"{repo}/landing/{number + 1}")).status_code == 404
