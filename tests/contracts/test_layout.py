"""The shape every domain follows (docs/conventions.md): a name leads to its file in one hop."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import forge_db
from forge_db.query import Namespace

from .operations import OPERATIONS, parameters

PACKAGE = Path(forge_db.__file__).parent
MAX_LINES = 600


@pytest.mark.parametrize("path", sorted(OPERATIONS))
def test_a_public_name_leads_to_its_file(path: str) -> None:
    parts = path.split(".")[1:]  # db.<domain>[.<part>].<operation>
    module = OPERATIONS[path].__wrapped__.__module__
    if len(parts) == 2:
        domain = parts[0]
        expected = {f"forge_db.{domain}.{domain}", f"forge_db.{domain}"}
    else:
        expected = {f"forge_db.{parts[0]}.{parts[1]}"}
    assert module in expected, f"{path} is defined in {module}, not {sorted(expected)}"


def _namespace_modules() -> dict[Path, list[str]]:
    found: dict[Path, list[str]] = {}
    for op in OPERATIONS.values():
        source = Path(inspect.getfile(op.__wrapped__))
        owner = op.__wrapped__.__qualname__.split(".")[0]
        found.setdefault(source, [])
        if owner not in found[source]:
            found[source].append(owner)
    return found


def test_a_module_holds_one_namespace() -> None:
    crowded = {str(p.relative_to(PACKAGE)): names for p, names in _namespace_modules().items()}
    assert all(len(names) == 1 for names in crowded.values()), crowded


def test_namespace_modules_stay_readable_in_one_sitting() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _namespace_modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_no_namespace_is_assembled_from_mixins() -> None:
    for path, op in OPERATIONS.items():
        owner = getattr(
            inspect.getmodule(op.__wrapped__), op.__wrapped__.__qualname__.split(".")[0]
        )
        bases = [b for b in owner.__mro__[1:] if issubclass(b, Namespace) and b is not Namespace]
        assert not bases, f"{path}: {owner.__name__} inherits operations from {bases}"


def test_writes_name_the_actor_and_reads_the_viewer() -> None:
    wrong = []
    for path, op in OPERATIONS.items():
        names = set(parameters(op))
        if "user_id" in names and ("actor_id" in names or "viewer_id" in names):
            continue  # a user-scoped row acted on (collaborator) or read for a viewer (stars)
        if op.writes and "viewer_id" in names:
            wrong.append(f"{path}: a write takes viewer_id")
        if not op.writes and "actor_id" in names:
            wrong.append(f"{path}: a read takes actor_id")
        if "author_id" in names and op.writes:
            wrong.append(f"{path}: the one who writes is actor_id, not author_id")
    assert not wrong, wrong


def test_repository_id_comes_first() -> None:
    late = [
        path
        for path, op in OPERATIONS.items()
        if "repository_id" in (names := list(parameters(op)))
        and names[0] != "repository_id"
        and parameters(op)["repository_id"][0].kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert not late, late


def test_every_operation_says_what_it_does() -> None:
    silent = [path for path, op in OPERATIONS.items() if not (op.__doc__ or "").strip()]
    assert not silent, silent


def test_an_alias_names_an_operation_of_a_child_namespace() -> None:
    from forge_db.database import Domains
    from forge_db.query import aliases, children

    def visit(owner: type) -> list[str]:
        wrong = []
        for name, child in children(owner).items():
            for alias_name, op in aliases(child).items():
                if op.owner not in children(child).values():
                    wrong.append(f"{name}.{alias_name} is not an operation of a child of {name}")
            wrong += visit(child)
        return wrong

    assert not visit(Domains)
