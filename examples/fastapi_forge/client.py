"""A client of the example: signs in with a throwaway key, then makes signed-in requests.

    python -m examples.fastapi_forge.client                  # the app at http://localhost:8000
    python -m examples.fastapi_forge.client https://forge.example

A browser does the same with the user's wallet (``personal_sign``) in place of the key.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from forge_db.ethereum import siwe_message


async def sign_in(http: httpx.AsyncClient, account: LocalAccount) -> dict[str, Any]:
    """Sign ``account`` in: fetch the terms, sign the message, post it; the cookie is kept."""
    terms = (await http.get("/auth/nonce", params={"address": account.address})).raise_for_status()
    message = siwe_message(address=account.address, **terms.json())
    signature = account.sign_message(encode_defunct(text=message)).signature
    response = await http.post(
        "/auth/login", json={"message": message, "signature": "0x" + bytes(signature).hex()}
    )
    return dict(response.raise_for_status().json())


async def tour(origin: str) -> None:
    """Sign in, create a repository and an issue, read them back."""
    async with httpx.AsyncClient(base_url=origin, timeout=30) as http:
        account: LocalAccount = Account.create()  # throwaway: a new user on every run
        signed_in = await sign_in(http, account)
        user = signed_in["user"]["username"]
        print(f"signed in as {user} ({account.address})")
        me = (await http.get("/me")).raise_for_status().json()
        print(f"GET /me -> {me['username']}, created {me['created_at']}")
        name = f"first-hour-{secrets.token_hex(3)}"
        repo = (await http.post("/repos", json={"name": name, "private": True})).raise_for_status()
        print(f"POST /repos -> {repo.json()['owner']}/{repo.json()['name']} (private)")
        issue = await http.post(f"/repos/{user}/{name}/issues", json={"title": "Hello, forge"})
        print(f"POST /repos/{user}/{name}/issues -> #{issue.raise_for_status().json()['number']}")
        page = (await http.get(f"/repos/{user}/{name}/issues")).raise_for_status().json()
        print(f"GET /repos/{user}/{name}/issues -> {[i['title'] for i in page['items']]}")
    async with httpx.AsyncClient(base_url=origin, timeout=30) as anonymous:
        stranger = await anonymous.get(f"/repos/{user}/{name}")
        print(f"GET /repos/{user}/{name} without signing in -> {stranger.status_code}")


def main() -> None:
    """Run the tour against ``origin``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("origin", nargs="?", default="http://localhost:8000")
    asyncio.run(tour(parser.parse_args().origin))


if __name__ == "__main__":
    main()
