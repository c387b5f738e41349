"""Cursors: opaque, bound to their list, authenticated, and typed; every bad one is InvalidInput."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput
from forge_db.issues import IssueSummary, SearchHit
from forge_db.pagination import Keyset

ORDER = Keyset(IssueSummary, "created_at", "id")
SCOPE = ("issues", 7, "open")
MOMENT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _decoded(cursor: str) -> list[Any]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    loaded: list[Any] = json.loads(raw)
    return loaded


def _encoded(payload: Any) -> str:
    text = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def test_a_cursor_round_trips_to_its_typed_key() -> None:
    cursor = ORDER.encode(SCOPE, [MOMENT, 42])
    assert ORDER.after(cursor, SCOPE) == [MOMENT, 42]
    assert ORDER.after(None, SCOPE) == [None, None]


def test_a_cursor_of_another_list_is_refused() -> None:
    cursor = ORDER.encode(SCOPE, [MOMENT, 42])
    with pytest.raises(InvalidInput) as info:
        ORDER.after(cursor, ("issues", 8, "open"))
    assert info.value.field == "cursor"


@pytest.mark.parametrize("position", range(0, 60, 3))
def test_a_cursor_with_any_character_changed_is_refused(position: int) -> None:
    cursor = ORDER.encode(SCOPE, [MOMENT, 42])
    flipped = "A" if cursor[position] != "A" else "B"
    with pytest.raises(InvalidInput):
        ORDER.after(cursor[:position] + flipped + cursor[position + 1 :], SCOPE)


def test_a_key_altered_under_a_kept_tag_is_refused() -> None:
    tag, key = _decoded(ORDER.encode(SCOPE, [MOMENT, 42]))
    for altered in ([{"t": MOMENT.isoformat()}, 43], [True, 42], [{"t": "x"}, 42], [1, 2]):
        with pytest.raises(InvalidInput):
            ORDER.after(_encoded([tag, altered]), SCOPE)
    assert key == [{"t": MOMENT.isoformat()}, 42]


@pytest.mark.parametrize(
    "key",
    [
        [True, 42],  # a bool where a time is
        [{"t": "2026-05-01T12:00:00"}, 42],  # a time without a zone
        [{"t": MOMENT.isoformat()}, "42"],  # text where an id is
        [{"t": MOMENT.isoformat()}, True],  # a bool where an id is
        [{"t": MOMENT.isoformat()}, 4.2],
        [{"t": MOMENT.isoformat()}],  # too short
        [{"t": MOMENT.isoformat()}, 42, 1],  # too long
        [{"t": MOMENT.isoformat(), "x": 1}, 42],
        {"t": 1},
    ],
)
def test_a_key_of_the_wrong_types_is_refused_even_when_its_tag_is_right(key: Any) -> None:
    from forge_db.pagination import _tag

    tag = _tag(SCOPE, key) if isinstance(key, list) else "0" * 24
    with pytest.raises(InvalidInput) as info:
        ORDER.after(_encoded([tag, key]), SCOPE)
    assert info.value.field == "cursor"


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "x" * 2000, _encoded("just text"), _encoded([1, 2, 3]), _encoded(None)]
)
def test_malformed_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        ORDER.after(cursor, SCOPE)


def test_a_rank_key_takes_integers_and_floats_but_not_infinity() -> None:
    ranks = Keyset(SearchHit, "rank", "id")
    from forge_db.pagination import _tag

    assert ranks.after(ranks.encode(("s",), [1, 5]), ("s",)) == [1.0, 5]
    for bad in ([float("inf"), 5], ["1", 5], [None, 5]):
        key: list[Any] = [str(v) if v == float("inf") else v for v in bad]
        with pytest.raises(InvalidInput):
            ranks.after(_encoded([_tag(("s",), key), key]), ("s",))


def test_a_forged_cursor_through_the_api_is_invalid_input_not_a_driver_error(
    fdb: ForgeDB,
) -> None:
    owner = make_user(fdb)
    repo = make_repository(fdb, owner)
    for n in range(3):
        fdb.issues.create(repo.id, actor_id=owner.id, title=f"crash {n}")
    page = fdb.issues.list(repo.id, limit=1)
    assert page.next_cursor is not None
    tag, key = _decoded(page.next_cursor)
    hit = fdb.issues.search(repo.id, "crash", limit=1)
    assert hit.next_cursor is not None
    search_tag, _ = _decoded(hit.next_cursor)
    for forged, call in (
        (_encoded([tag, [True, key[1]]]), lambda c: fdb.issues.list(repo.id, cursor=c)),
        (_encoded([tag, [key[0], {"x": 1}]]), lambda c: fdb.issues.list(repo.id, cursor=c)),
        (
            _encoded([search_tag, [True, 1]]),
            lambda c: fdb.issues.search(repo.id, "crash", cursor=c),
        ),
        (page.next_cursor, lambda c: fdb.issues.list(repo.id, cursor=c, sort="updated")),
    ):
        with pytest.raises(InvalidInput) as info:
            call(forged)
        assert info.value.field == "cursor"


def test_the_secret_keys_the_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    from forge_db import pagination

    built_in = ORDER.encode(SCOPE, [MOMENT, 42])
    monkeypatch.setenv("FORGE_DB_CURSOR_SECRET", "another forge")
    pagination._secret.cache_clear()
    try:
        with pytest.raises(InvalidInput):
            ORDER.after(built_in, SCOPE)
        keyed = ORDER.encode(SCOPE, [MOMENT, 42])
        assert keyed != built_in
        assert ORDER.after(keyed, SCOPE) == [MOMENT, 42]
    finally:
        pagination._secret.cache_clear()
