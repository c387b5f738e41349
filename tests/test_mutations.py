"""The mutation list of ``scripts/mutants.py`` stays runnable: every anchor is still in its file.

Running the mutations takes the better part of an hour, so the suite does not; but a mutation
whose text to change has gone (the code moved on) would silently stop guarding anything until
the next full run. This keeps each one pointed at code that exists.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _mutants() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MUTATIONS = _mutants().MUTATIONS


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_every_mutation_still_finds_its_text(mutation: tuple[str, str, str, str, str]) -> None:
    """The text a mutation changes is in its file, the change changes it, its tests exist."""
    name, path, old, new, tests = mutation
    text = (ROOT / path).read_text()
    assert old in text, f"{name}: the text to change is gone from {path}"
    assert old != new, f"{name}: the mutation changes nothing"
    words = tests.split()
    # pytest's own options (and the value after -k or -m) are not paths.
    paths = [
        w for i, w in enumerate(words) if not w.startswith("-") and words[i - 1] not in ("-k", "-m")
    ]
    assert paths, f"{name}: names no tests"
    for target in paths:
        assert (ROOT / target.split("::")[0]).exists(), f"{name}: no test path {target}"


def test_mutation_names_are_unique() -> None:
    """A name selects mutations on the command line, so no two share one."""
    names = [m[0] for m in MUTATIONS]
    assert len(names) == len(set(names))
