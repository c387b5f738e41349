"""Connecting: URL resolution, bad URLs and options, and Unavailable within the timeouts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from forge_db import AsyncForgeDB, ForgeDB, InvalidInput, Unavailable


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for s in accepted:
        s.close()
    listener.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    ["not a url", "postgresql://user@host:notaport/db", "postgresql://h/db?nonsense_option=1", ""],
)
def test_bad_url_is_invalid_input_naming_the_url(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect(url)
    assert info.value.field == "url"
    assert "URL" in str(info.value)


def test_bad_url_in_environment_is_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://h:port/db")
    with pytest.raises(InvalidInput, match="invalid database URL"):
        ForgeDB.connect()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_size": 0}, "max_size"),
        ({"min_size": 5, "max_size": 2}, "min_size"),
        ({"pool_timeout": -1}, "pool_timeout"),
        ({"no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_option_is_invalid_input_naming_it(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect("postgresql://localhost/x", **options)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


def test_refused_connection_is_unavailable_naming_target_not_password() -> None:
    port = _closed_port()
    url = f"postgresql://forge:hunter2@127.0.0.1:{port}/forge"
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        ForgeDB.connect(url, connect_timeout=2)
    assert time.monotonic() - started < 2
    message = str(info.value)
    assert f"forge@127.0.0.1:{port}/forge" in message
    assert "hunter2" not in message


def test_silent_server_is_unavailable_within_connect_timeout(silent_server: int) -> None:
    url = f"postgresql://forge:hunter2@127.0.0.1:{silent_server}/forge"
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        ForgeDB.connect(url, connect_timeout=2)
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 6, elapsed
    assert "hunter2" not in str(info.value)
    assert f"127.0.0.1:{silent_server}" in str(info.value)


@pytest.mark.anyio
async def test_async_silent_server_is_unavailable_within_connect_timeout(
    silent_server: int,
) -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await AsyncForgeDB.connect(f"postgresql://x@127.0.0.1:{silent_server}/x", connect_timeout=2)
    assert time.monotonic() - started < 6


def test_exhausted_pool_is_unavailable_within_pool_timeout(database_url: str) -> None:
    with ForgeDB.connect(database_url, min_size=1, max_size=1, pool_timeout=0.3) as db:  # noqa: SIM117
        with db.transaction():
            started = time.monotonic()
            with pytest.raises(Unavailable, match="no database connection came free"):
                db.meta.server_version()
            assert time.monotonic() - started < 3


@pytest.mark.anyio
async def test_async_exhausted_pool_is_unavailable(database_url: str) -> None:
    adb = await AsyncForgeDB.connect(database_url, min_size=1, max_size=1, pool_timeout=0.3)
    try:
        async with adb.transaction():
            with pytest.raises(Unavailable, match="no database connection came free"):
                await adb.meta.server_version()
    finally:
        await adb.close()


def test_closed_handle_is_unavailable(database_url: str) -> None:
    db = ForgeDB.connect(database_url)
    db.close()
    with pytest.raises(Unavailable, match="closed"):
        db.meta.server_version()


def test_database_url_environment_is_used_when_no_url_given(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    with ForgeDB.connect() as db:
        assert db.meta.database_name() == database_url.rsplit("dbname=", 1)[-1].split()[0]


def test_explicit_url_wins_over_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    with ForgeDB.connect(database_url) as db:
        assert db.meta.server_version()


def test_repr_names_target_without_password(database_url: str) -> None:
    with ForgeDB.connect(database_url) as db:
        assert "password" not in repr(db)
        assert db.target in repr(db)
