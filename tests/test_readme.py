"""The README's example runs as written (against this test's database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from forge_db import NotFound

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_runs(database_url: str) -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    code = block.group(1).split("async def main")[0]
    code = code.replace("ForgeDB.connect()", f"ForgeDB.connect({database_url!r})")
    code = code.replace(
        "    db.issues.get(repo.id, 1, viewer_id=None)",
        "    with pytest.raises(NotFound):\n        db.issues.get(repo.id, 1, viewer_id=None)",
    )
    scope: dict[str, object] = {"pytest": pytest, "NotFound": NotFound}
    exec(compile(code, str(README), "exec"), scope)
    assert scope["issue"].number == 1  # type: ignore[attr-defined]
