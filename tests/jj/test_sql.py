"""Prefix resolution and shortest unique prefixes, checked against a brute-force reference.

50,000 random commits (so 50,000 change ids and 50,000 commit ids) are stored; every prefix
length from 1 to the full id is tried, with prefixes taken from stored ids and made up, and
each answer (the one id, the ambiguity with its candidates, or nothing) must be the one that
counting prefixes in Python gives. ``shortest_prefixes`` must give, for every stored id, the
least length whose prefix no other id shares.
"""

from __future__ import annotations

import bisect
import random
from collections import Counter
from collections.abc import Callable

import pytest

from forge_db import AmbiguousPrefix, ForgeDB, NotFound

from .conftest import CHANGE_LETTERS, World, commit

COUNT = 50_000
PER_LENGTH = 25
HEX = "0123456789abcdef"


@pytest.fixture
def stored(fdb: ForgeDB, world: World) -> tuple[list[str], list[str]]:
    rng = random.Random(2026)
    records = [commit(rng=rng) for _ in range(COUNT)]
    for start in range(0, COUNT, 25_000):
        fdb.jj.record_commits(
            world.repo.id, records[start : start + 25_000], actor_id=world.writer.id
        )
    return sorted({r.change_id for r in records}), sorted(r.commit_id for r in records)


def _matching(ids: list[str], prefix: str) -> list[str]:
    start = bisect.bisect_left(ids, prefix)
    end = bisect.bisect_left(ids, prefix + "~")
    return ids[start:end]


def _check_resolution(
    ids: list[str], alphabet: str, resolve: Callable[[str], str], rng: random.Random
) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for length in range(1, len(ids[0]) + 1):
        prefixes = {rng.choice(ids)[:length] for _ in range(PER_LENGTH)}
        prefixes |= {"".join(rng.choice(alphabet) for _ in range(length)) for _ in range(5)}
        for prefix in sorted(prefixes):
            expected = _matching(ids, prefix)
            if len(expected) == 1:
                assert resolve(prefix) == expected[0], prefix
                outcomes["unique"] += 1
            elif expected:
                with pytest.raises(AmbiguousPrefix) as refused:
                    resolve(prefix)
                assert refused.value.candidates == expected[:10], prefix
                outcomes["ambiguous"] += 1
            else:
                with pytest.raises(NotFound):
                    resolve(prefix)
                outcomes["none"] += 1
    return outcomes


def test_prefix_resolution_matches_a_brute_force_reference(
    fdb: ForgeDB, world: World, stored: tuple[list[str], list[str]]
) -> None:
    changes, commits = stored
    rng = random.Random(1)
    jj = fdb.jj
    by_change = _check_resolution(
        changes,
        CHANGE_LETTERS,
        lambda p: jj.resolve_change(world.repo.id, p).change_id,
        rng,
    )
    by_commit = _check_resolution(
        commits, HEX, lambda p: jj.resolve_commit(world.repo.id, p).commit_id, rng
    )
    for outcomes in (by_change, by_commit):  # every kind of answer was exercised
        assert min(outcomes["unique"], outcomes["ambiguous"], outcomes["none"]) > 20, outcomes


def _shortest(ids: list[str]) -> dict[str, int]:
    """The least length whose prefix only this id has: by counting every prefix."""
    found: dict[str, int] = {}
    for length in range(1, len(ids[0]) + 1):
        counts = Counter(i[:length] for i in ids)
        for i in ids:
            if i not in found and counts[i[:length]] == 1:
                found[i] = length
    return found


def test_shortest_prefixes_match_a_brute_force_reference(
    fdb: ForgeDB, world: World, stored: tuple[list[str], list[str]]
) -> None:
    changes, commits = stored
    for ids in (changes, commits):
        expected = _shortest(ids)
        shuffled = ids[:]
        random.Random(3).shuffle(shuffled)
        got: dict[str, int] = {}
        for start in range(0, len(shuffled), 1000):
            page = shuffled[start : start + 1000]
            answer = fdb.jj.shortest_prefixes(world.repo.id, page)
            assert [p.id for p in answer] == page  # in the order asked
            got.update((p.id, p.length) for p in answer)
        assert got == expected
