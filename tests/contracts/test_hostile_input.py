"""Hostile text into every text input: what a forge must store comes back unchanged.

Right-to-left text, Arabic, combining accents, emoji, SQL-looking text, format placeholders and
tabs are ordinary content: every text field stores and returns them exactly (a validator that
refused all non-ASCII text, or every title with a space, fails here). Only NUL bytes, lone
surrogates and values over the field's length may be refused, and then with ``InvalidInput``
naming the field and with nothing stored. Hypothesis adds random text on top of the lists.
"""

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

MUST_STORE = [
    "\u202eevil\u202c",  # right-to-left override
    "مرحبا بالعالم",
    "e\u0301\u0301\u0301",  # stacked combining accents
    "\U0001f680 rocket \U0001f469\u200d\U0001f4bb",
    "'; DROP TABLE users; --",
    "Robert'); DELETE FROM issues;--",
    "%s %(x)s {} {0} $1 \\ \\n",
    "tab\there",
    "a b  c",
    "日本語のタイトル",
]
MAY_REFUSE = ["\x00", "a\x00b", "\ud800", "x" * 10_000_000]
_unique = itertools.count()
fuzz = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _stores(
    store: Callable[[str], Any],
    read_back: Callable[[Any], str],
    value: str,
    field: str,
    *,
    normalised: Callable[[str], str] = lambda v: v,
) -> None:
    """``value`` must round-trip; ``InvalidInput`` naming ``field`` only for refusable values."""
    try:
        stored = store(value)
    except InvalidInput as exc:
        assert exc.field == field, f"{value!r} refused naming {exc.field!r}, not {field!r}"
        assert value not in MUST_STORE, f"{field} refused ordinary text {value!r}: {exc}"
        return
    assert read_back(stored) == normalised(value)


TEXTS = MUST_STORE + MAY_REFUSE


@pytest.mark.parametrize("value", TEXTS)
def test_issue_title_body_and_comment(fdb: ForgeDB, value: str) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    _stores(
        lambda v: fdb.issues.create(repo.id, actor_id=owner.id, title=v),
        lambda issue: fdb.issues.get(repo.id, issue.number).title,
        value,
        "title",
    )
    _stores(
        lambda v: fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=v),
        lambda issue: fdb.issues.get(repo.id, issue.number).body,
        value,
        "body",
    )
    fdb.issues.create(repo.id, actor_id=owner.id, title="for comments")
    number = fdb.issues.list(repo.id, limit=1).items[0].number
    _stores(
        lambda v: fdb.issues.comments.create(repo.id, number, actor_id=owner.id, body=v),
        lambda c: fdb.issues.comments.get(repo.id, c.id).body,
        value,
        "body",
    )


@pytest.mark.parametrize("value", TEXTS)
def test_repository_and_user_texts(fdb: ForgeDB, value: str) -> None:
    owner = make_user(fdb)
    _stores(
        lambda v: fdb.users.create(username=f"u{next(_unique)}", display_name=v),
        lambda u: fdb.users.get(u.id).display_name or "",
        value if "\t" not in value else value.replace("\t", " "),
        "display_name",
    )
    _stores(
        lambda v: fdb.repositories.create(
            owner_id=owner.id, name=f"r{next(_unique)}", description=v
        ),
        lambda r: fdb.repositories.get_by_id(r.id).description,
        value,
        "description",
    )
    repo = make_repository(fdb, owner)
    _stores(
        lambda v: fdb.repositories.protection.set(
            repo.id, actor_id=owner.id, pattern="main", required_status_contexts=[v]
        ),
        lambda r: r.required_status_contexts[0],
        value.replace("\t", " "),
        "required_status_contexts",
    )


@pytest.mark.parametrize("value", TEXTS)
def test_label_milestone_message_and_token_texts(fdb: ForgeDB, value: str) -> None:
    owner, other = make_user(fdb), make_user(fdb)
    repo = make_repository(fdb, owner)
    # Names refuse control characters (a tab in a label is a mistake); free text keeps them.
    _stores(
        lambda v: fdb.issues.labels.create(repo.id, actor_id=owner.id, name=v[:50]),
        lambda label: label.name,
        value.replace("\t", " "),
        "name",
        normalised=lambda v: v[:50].strip(),
    )
    _stores(
        lambda v: fdb.issues.milestones.create(
            repo.id, actor_id=owner.id, title=f"m{next(_unique)}", description=v
        ),
        lambda m: m.description,
        value,
        "description",
    )
    _stores(
        lambda v: fdb.collaboration.messages.send(actor_id=owner.id, recipient_id=other.id, body=v),
        lambda m: fdb.collaboration.messages.list(other.id, viewer_id=owner.id).items[0].body,
        value,
        "body",
    )
    _stores(
        lambda v: fdb.auth.tokens.create(owner.id, name=v[:100], scopes=["repo:read"]),
        lambda t: t.access_token.name,
        value.replace("\t", " "),
        "name",
        normalised=lambda v: v[:100].strip(),
    )


@pytest.mark.parametrize("value", ["\x00", "\ud800", "x" * 70_000])
def test_a_refused_text_names_the_field_and_stores_nothing(fdb: ForgeDB, value: str) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    with pytest.raises(InvalidInput) as info:
        fdb.issues.create(repo.id, actor_id=owner.id, title="t", body=value)
    assert info.value.field == "body"
    assert fdb.issues.counts(repo.id).open == 0
    with pytest.raises(InvalidInput) as info:
        fdb.users.update_profile(owner.id, display_name=value)
    assert info.value.field == "display_name"
    assert fdb.users.get(owner.id).display_name is None


# The 10 MB value stays out of Hypothesis, which would print it on failure.
hostile = st.one_of(st.sampled_from([*MUST_STORE, *MAY_REFUSE[:3]]), st.text(max_size=300))


@fuzz
@given(value=hostile)
def test_random_text_round_trips_or_is_refused_naming_the_field(db: ForgeDB, value: str) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    try:
        issue = db.issues.create(repo.id, actor_id=owner.id, title="t", body=value)
    except InvalidInput as exc:
        assert exc.field == "body"
        assert "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        return
    assert db.issues.get(repo.id, issue.number).body == value


@fuzz
@given(value=hostile)
def test_search_and_lookups_answer_or_refuse_with_forge_errors(db: ForgeDB, value: str) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    db.issues.create(repo.id, actor_id=owner.id, title="a findable title")
    for call in (
        lambda: db.issues.search(repo.id, value),
        lambda: db.users.find_by_username(value),
        lambda: db.repositories.get(owner.username, value),
        lambda: db.repositories.bookmarks.resolve(repo.id, value),
    ):
        with contextlib.suppress(InvalidInput, NotFound):
            call()
    hits = db.issues.search(repo.id, "findable").items
    assert [hit.title for hit in hits] == ["a findable title"]
