"""Access is said in one vocabulary: roles by name, the guard, the visibility filter.

Scans the SQL of every statement every operation can send (and the package's source) for a
numeric access level or a hand-written visibility check, and checks that every repository read
that takes a viewer filters with ``can_read_repository()`` and every repository write starts
with ``guard_repository()``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import forge_db

from .operations import OPERATIONS, parameters, statement_variants

PACKAGE = Path(forge_db.__file__).parent

# The rule's own numbers live in the schema (repository_access_level and the functions that
# name it); statements use the functions that take or return role names.
_NUMERIC = [
    (re.compile(r"repository_access_level\s*\("), "repository_access_level() is the schema's"),
    (re.compile(r"\brepository_guard\s*\("), "the numeric repository_guard() is superseded"),
    (
        re.compile(r"(guard_repository|has_repository_role)\s*\(\s*[^,()]+,\s*[^,()]+,\s*\d"),
        "a numeric role argument",
    ),
    (
        re.compile(r"repository_role\s*\([^)]*\)\s*(>=|<=|>|<|=)\s*\d"),
        "a role compared to a number",
    ),
    (re.compile(r"\blevel\s*(>=|>)\s*\d"), "a numeric level comparison"),
]
# A visibility decision written by hand instead of can_read_repository().
_HAND_WRITTEN = [
    re.compile(r"\bprivate\s*=\s*false\b", re.I),
    re.compile(r"\bNOT\s+\w+\.private\s+OR\b", re.I),
    re.compile(r"\bowner_id\s*=\s*%\(viewer_id\)s\s+OR\b", re.I),
]
# Reads that take a viewer but reach no private repository row: a listing of public
# repositories only, and the viewer's own direct messages.
_NO_REPOSITORY_FILTER = {
    "db.repositories.list_public": "lists only public repositories (NOT r.private)",
    "db.collaboration.messages.list": "personal: messages between users, no repository",
    "db.collaboration.messages.unread_count": "personal: messages between users, no repository",
}
# Writes scoped by repository that are the actor's own rows rather than repository content.
_NO_GUARD = {
    "db.collaboration.notifications.mark_all_read": "the actor's own notifications",
    "db.repositories.create": "a new repository: the owner must be an active user",
    **dict.fromkeys(
        (
            "db.coordination.events.publish",
            "db.coordination.events.subscribe",
            "db.coordination.decisions.request",
            "db.coordination.config.set",
            "db.coordination.config.delete",
        ),
        "infrastructure called by services and operators, not on a person's behalf: "
        "the repository id only scopes the row",
    ),
    "db.landing.workers.claim": "trusted worker code: claims across repositories, as no user",
}


@pytest.fixture(scope="module")
def statements() -> dict[str, list[str]]:
    return {
        path: [query.sql if isinstance(query.sql, str) else repr(query.sql) for _, query in calls]
        for path, calls in ((p, statement_variants(p)) for p in OPERATIONS)
    }


def test_no_statement_spells_a_numeric_access_level(statements: dict[str, list[str]]) -> None:
    offences = [
        f"{path}: {why}"
        for path, texts in statements.items()
        for text in texts
        for pattern, why in _NUMERIC
        if pattern.search(text)
    ]
    assert not offences, sorted(set(offences))


def test_no_source_file_spells_a_numeric_access_level() -> None:
    offences = [
        f"{path.relative_to(PACKAGE)}: {why}"
        for path in PACKAGE.rglob("*.py")
        for pattern, why in _NUMERIC
        if pattern.search(path.read_text())
    ]
    assert not offences, offences


def test_no_statement_decides_visibility_by_hand(statements: dict[str, list[str]]) -> None:
    offences = [
        f"{path}: {pattern.pattern}"
        for path, texts in statements.items()
        for text in texts
        for pattern in _HAND_WRITTEN
        if pattern.search(text)
    ]
    assert not offences, sorted(set(offences))


def test_every_read_with_a_viewer_filters_by_visibility(statements: dict[str, list[str]]) -> None:
    missing = [
        path
        for path, op in OPERATIONS.items()
        if not op.writes
        and "viewer_id" in parameters(op)
        and path not in _NO_REPOSITORY_FILTER
        and not all("can_read_repository(" in text for text in statements[path])
    ]
    assert not missing, missing


def test_every_repository_write_starts_with_the_guard(statements: dict[str, list[str]]) -> None:
    missing = [
        path
        for path, op in OPERATIONS.items()
        if op.writes
        and "repository_id" in parameters(op)
        and path not in _NO_GUARD
        and not all("guard_repository(" in text for text in statements[path])
    ]
    assert not missing, missing


def test_the_exceptions_are_real_operations() -> None:
    assert set(_NO_REPOSITORY_FILTER) | set(_NO_GUARD) <= set(OPERATIONS)


def test_a_guarded_write_that_reports_what_changed_runs_its_guard_first() -> None:
    # A DELETE or UPDATE joined to its guard may never evaluate it when no row matches, and then
    # answers a stranger "nothing changed" instead of NotFound; the gate makes it run first.
    from forge_db.query import affected, rowcount

    ungated = [
        path
        for path in OPERATIONS
        for _, query in statement_variants(path)
        if query.shape in (affected, rowcount)
        and "guard_repository(" in str(query.sql)
        and "EXISTS (SELECT FROM guard)" not in str(query.sql)
        and "EXISTS (SELECT FROM pair)" not in str(query.sql)
    ]
    assert not ungated, sorted(set(ungated))
