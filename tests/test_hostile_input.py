"""Hostile text into every text input: stored and read back exactly, or InvalidInput."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput, NotFound

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "x" * 10_000_000,
    "\u202eevil\u202c",  # right-to-left override
    "مرحبا بالعالم",
    "e\u0301\u0301\u0301",  # stacked combining accents
    "'; DROP TABLE users; --",
    "%s %(x)s {} $1 \\",
    "Robert'); DELETE FROM issues;--",
    "\ud800",  # a lone surrogate: not encodable
    "\U0001f680" * 100,
    "line\nbreak\r\n",
    "\t\v\f",
    "a" * 257,
]
hostile = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300))
_unique = itertools.count()
fuzz = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _round_trip(
    store: Callable[[str], Any],
    read_back: Callable[[Any], str],
    value: str,
    *,
    normalised: Callable[[str], str] = lambda v: v,
) -> None:
    try:
        stored = store(value)
    except InvalidInput:
        return
    assert read_back(stored) == normalised(value)


@fuzz
@given(value=hostile)
def test_issue_title_and_body(db: ForgeDB, value: str) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    _round_trip(
        lambda v: db.issues.create(repository_id=repo.id, author_id=owner.id, title=v),
        lambda issue: db.issues.get(repo.id, issue.number).title,
        value,
        normalised=str.strip,
    )
    _round_trip(
        lambda v: db.issues.create(repository_id=repo.id, author_id=owner.id, title="t", body=v),
        lambda issue: db.issues.get(repo.id, issue.number).body,
        value,
    )


@fuzz
@given(value=hostile)
def test_comment_body(db: ForgeDB, value: str) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    db.issues.create(repository_id=repo.id, author_id=owner.id, title="t")
    _round_trip(
        lambda v: db.issues.add_comment(repo.id, 1, author_id=owner.id, body=v),
        lambda c: db.issues.get_comment(repo.id, c.id).body,
        value,
    )


@fuzz
@given(value=hostile)
def test_user_texts(db: ForgeDB, value: str) -> None:
    _round_trip(lambda v: db.users.create(username=v), lambda u: db.users.get(u.id).username, value)
    _round_trip(
        lambda v: db.users.create(username=f"u{next(_unique)}", display_name=v),
        lambda u: db.users.get(u.id).display_name or "",
        value,
    )
    user = make_user(db)
    _round_trip(
        lambda v: db.users.add_email(user.id, v),
        lambda e: db.users.list_emails(user.id)[-1].email,
        value,
        normalised=str.strip,
    )


@fuzz
@given(value=hostile)
def test_repository_texts(db: ForgeDB, value: str) -> None:
    owner = make_user(db)
    _round_trip(
        lambda v: db.repositories.create(owner_id=owner.id, name=v),
        lambda r: db.repositories.get_by_id(r.id).name,
        value,
    )
    _round_trip(
        lambda v: db.repositories.create(
            owner_id=owner.id, name=f"r{next(_unique)}", description=v
        ),
        lambda r: db.repositories.get_by_id(r.id).description,
        value,
    )
    repo = make_repository(db, owner)
    _round_trip(
        lambda v: db.repositories.set_bookmark(
            repo.id, actor_id=owner.id, name=v, targets="a" * 40
        ),
        lambda b: db.repositories.get_bookmark(repo.id, b.name).name,
        value,
    )
    _round_trip(
        lambda v: db.repositories.protect(
            repo.id, actor_id=owner.id, pattern=v, required_status_contexts=[v]
        ),
        lambda r: r.required_status_contexts[0],
        value,
    )


@fuzz
@given(value=hostile)
def test_label_milestone_message_and_token_texts(db: ForgeDB, value: str) -> None:
    owner, other = make_user(db), make_user(db)
    repo = make_repository(db, owner)
    _round_trip(
        lambda v: db.issues.create_label(repo.id, actor_id=owner.id, name=v),
        lambda lb: db.issues.list_labels(repo.id)[-1].name,
        value,
        normalised=str.strip,
    )
    _round_trip(
        lambda v: db.issues.create_milestone(
            repo.id, actor_id=owner.id, title=f"m{next(_unique)}", description=v
        ),
        lambda m: m.description,
        value,
    )
    _round_trip(
        lambda v: db.collaboration.send_message(owner.id, other.id, v),
        lambda m: db.collaboration.list_conversation(owner.id, other.id).items[0].body,
        value,
    )
    _round_trip(
        lambda v: db.auth.create_access_token(owner.id, name=v, scopes=["repo:read"]),
        lambda t: t.access_token.name,
        value,
        normalised=str.strip,
    )


@fuzz
@given(value=hostile)
def test_search_and_lookups_never_fail_otherwise(db: ForgeDB, value: str) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    for call in (
        lambda: db.issues.search(repo.id, value),
        lambda: db.users.find_by_username(value),
        lambda: db.repositories.get(owner.username, value),
        lambda: db.repositories.resolve_ref_name(repo.id, value),
    ):
        with contextlib.suppress(InvalidInput, NotFound):
            call()


@pytest.mark.parametrize("value", ["\x00", "\ud800"])
def test_unstorable_text_names_the_field(db: ForgeDB, value: str) -> None:
    owner = make_user(db)
    with pytest.raises(InvalidInput) as info:
        db.users.update_profile(owner.id, display_name=value)
    assert info.value.field == "display_name"
