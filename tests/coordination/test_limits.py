"""db.coordination.limits: one-statement token buckets, with remaining and reset times."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from forge_db import ForgeDB, InvalidInput

Conn = psycopg.Connection[Any]


def test_hits_are_allowed_up_to_the_limit_then_refused(fdb: ForgeDB) -> None:
    hit = fdb.coordination.limits.hit
    answers = [hit("ip:1", 3, 3600) for _ in range(4)]
    assert [(a.allowed, a.remaining, a.limit) for a in answers] == [
        (True, 2, 3),
        (True, 1, 3),
        (True, 0, 3),
        (False, 0, 3),
    ]
    assert answers[0].retry_after == 0
    # One token comes back every period / limit = 1200 s.
    assert answers[3].retry_after == pytest.approx(1200, abs=1)


def test_the_reset_time_is_when_the_bucket_is_full_again(fdb: ForgeDB) -> None:
    hit = fdb.coordination.limits.hit
    first = hit("user:7:issues.create", 10, 600)
    after_one = first.reset_at
    for _ in range(4):
        last = hit("user:7:issues.create", 10, 600)
    # Five tokens taken at 60 s each: full again five minutes after the last hit.
    assert last.remaining == 5
    assert (last.reset_at - after_one) == pytest.approx(
        timedelta(seconds=240), abs=timedelta(seconds=1)
    )
    peek = hit("user:7:issues.create", 10, 600, cost=0)
    assert peek.allowed
    assert peek.remaining == 5


def test_tokens_refill_with_time(fdb: ForgeDB, conn: Conn) -> None:
    hit = fdb.coordination.limits.hit
    for _ in range(2):
        assert hit("k", 2, 60).allowed
    assert not hit("k", 2, 60).allowed
    conn.execute("UPDATE rate_limits SET refilled_at = refilled_at - interval '30 seconds'")
    refilled = hit("k", 2, 60)
    assert (refilled.allowed, refilled.remaining) == (True, 0)


def test_a_costly_hit_takes_several_tokens_or_none(fdb: ForgeDB) -> None:
    hit = fdb.coordination.limits.hit
    assert hit("bulk", 10, 60, cost=7).remaining == 3
    refused = hit("bulk", 10, 60, cost=4)
    assert (refused.allowed, refused.remaining) == (False, 3)
    assert hit("bulk", 10, 60, cost=3).allowed


def test_keys_are_independent(fdb: ForgeDB) -> None:
    hit = fdb.coordination.limits.hit
    assert hit("a", 1, 60).allowed
    assert not hit("a", 1, 60).allowed
    assert hit("b", 1, 60).allowed


def test_a_cost_above_the_limit_is_refused_by_name(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.coordination.limits.hit("a", 1, 60, cost=2)
    assert refused.value.field == "cost"
