"""The README's code runs as written, and runs again: every ```python block, twice in a row.

A block runs with ``DATABASE_URL`` set to this test's fresh database, exactly as a reader runs
it, and must be self-contained and idempotent (unique names, or find-or-create, or clean up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import forge_db.ethereum

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE = re.compile(r"^```python\n(?P<code>.*?)^```$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    """A ```python block of the README and the line its code starts on."""

    line: int
    code: str


def _blocks() -> list[Block]:
    text = README.read_text()
    return [
        Block(text.count("\n", 0, match.start("code")) + 1, match.group("code"))
        for match in _FENCE.finditer(text)
    ]


def _run(block: Block) -> None:
    # Padded to its line, so that a traceback points at the README's own line.
    code = compile("\n" * (block.line - 1) + block.code, str(README), "exec")
    exec(code, {"__name__": "__readme__"})


def _block_with(needle: str) -> Block:
    found = [block for block in _blocks() if needle in block.code]
    assert len(found) == 1, f"expected one README block with {needle!r}"
    return found[0]


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_readme_has_python_blocks() -> None:
    assert len(_blocks()) >= 2


@pytest.mark.parametrize("block", _blocks(), ids=lambda block: f"README.md:{block.line}")
def test_each_python_block_runs_twice_in_a_row_on_a_fresh_database(
    block: Block, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    _run(block)
    _run(block)


def test_the_usage_example_shows_not_found_and_goes_on_to_the_transaction(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    _run(_block_with("NotFound: private to strangers"))
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "7 issues, newest first: Parser crash 7 ... Parser crash 1",
        "NotFound: private to strangers",
        "#1 is closed",
    ]


def test_the_usage_example_pages_with_a_while_next_cursor_loop() -> None:
    assert "while page.next_cursor:" in _block_with("db.issues.list(").code


def test_the_sign_in_example_builds_its_message_with_the_public_helper(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = _block_with("sign_in_with_ethereum")
    assert "from forge_db.ethereum import siwe_message" in block.code
    assert "create_siwe_nonce" in block.code
    assert "siwe_message" in forge_db.ethereum.__all__
    monkeypatch.setenv("DATABASE_URL", database_url)
    _run(block)
    assert re.fullmatch(r"signed in as eth-[0-9a-z]{31}\n", capsys.readouterr().out)


def test_using_it_says_when_forge_db_migrate_is_needed() -> None:
    using = _section("Using it")
    before_code = using[: using.index("```python")]
    assert "`DATABASE_URL`" in before_code
    assert "`forge-db migrate`" in before_code
    assert "embedded" in before_code


def test_the_readme_links_the_example_and_its_one_command() -> None:
    text = README.read_text()
    assert "](examples/fastapi_forge/README.md)" in text
    assert (ROOT / "examples" / "fastapi_forge" / "README.md").is_file()
    assert "uvicorn examples.fastapi_forge.app:app" in text
