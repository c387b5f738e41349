"""Fixtures of the auth tests: signing a wallet in, reading tables raw, counting pool requests,
and racing clients that each hold a connection of their own."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import psycopg
import pytest
from anyio.from_thread import start_blocking_portal
from psycopg import sql
from support import DOMAIN, Wallet

from forge_db import AsyncForgeDB, ForgeDB
from forge_db.auth import SignIn
from forge_db.testing import BlockingProxy

Conn = psycopg.Connection[Any]
Snapshot = Callable[..., dict[str, list[tuple[Any, ...]]]]
SignInFn = Callable[..., SignIn]

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def snapshot(conn: Conn) -> Snapshot:
    """Every row of the named tables (default: those sign-in writes), read over ``conn``.

    Two equal snapshots mean nothing was inserted, updated or deleted in between.
    """

    def take(*tables: str) -> dict[str, list[tuple[Any, ...]]]:
        names = tables or ("users", "siwe_nonces", "auth_sessions", "access_tokens")
        return {
            name: conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(name))
            ).fetchall()
            for name in names
        }

    return take


@pytest.fixture
def sign_in(fdb: ForgeDB) -> SignInFn:
    """Sign a wallet (a fresh one unless given) in to ``DOMAIN`` with a fresh nonce."""

    def sign_in(wallet: Wallet | None = None, **options: Any) -> SignIn:
        wallet = wallet or Wallet()
        message = wallet.message(fdb.auth.create_siwe_nonce(domain=DOMAIN))
        return fdb.auth.sign_in_with_ethereum(
            message, wallet.sign(message), domain=DOMAIN, **options
        )

    return sign_in


@pytest.fixture
def pool_requests(fdb: ForgeDB) -> Callable[[], int]:
    """How many connections ``fdb``'s pool has handed out so far: one per statement run."""
    return lambda: fdb.pool.get_stats().get("requests_num", 0)


def _wallet_username(address: str) -> str:
    digits = ""
    number = int(address.lower().removeprefix("0x"), 16)
    for _ in range(31):
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return "eth-" + digits


@pytest.fixture
def wallet_username() -> Callable[[str], str]:
    """The name a wallet's first sign-in takes: ``eth-`` and the whole address in base 36.

    Written here independently of the schema's ``wallet_username()``, so the two check each
    other: 160 bits in 31 base-36 digits is injective, so no other wallet's account has it.
    """
    return _wallet_username


@pytest.fixture
def own_clients(fdb: ForgeDB, database_url: str) -> Iterator[Callable[[int], list[ForgeDB]]]:
    """Opens clients of ``fdb``'s API, each with one connection of its own (closed at the end).

    Async clients run behind a blocking portal each, so both APIs race the same way.
    """
    with contextlib.ExitStack() as stack:

        def open_clients(count: int) -> list[ForgeDB]:
            clients: list[ForgeDB] = []
            for _ in range(count):
                if isinstance(fdb, ForgeDB):
                    client = ForgeDB.connect(database_url, min_size=1, max_size=1)
                    clients.append(stack.enter_context(client))
                    continue
                portal = stack.enter_context(start_blocking_portal("asyncio"))
                connect = functools.partial(
                    AsyncForgeDB.connect, database_url, min_size=1, max_size=1
                )
                async_client = portal.call(connect)
                stack.callback(portal.call, async_client.close)
                clients.append(cast(ForgeDB, BlockingProxy(async_client, portal)))
            return clients

        yield open_clients


def _together(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls), timeout=60)
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing call never returned"
    return outcomes


@pytest.fixture
def together() -> Callable[[Sequence[Callable[[], Any]]], list[Any]]:
    """Runs calls on threads of their own, released at once by a barrier; returns what each
    returned or raised, in order."""
    return _together
