"""db.jj.operations: bulk idempotent recording, heads, the log, prefix resolution."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from forge_db import AmbiguousPrefix, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.jj import OperationRecord

from .conftest import World, chain, operation

Conn = psycopg.Connection[Any]


def _count(conn: Conn, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _heads(fdb: ForgeDB, repository_id: int) -> set[str]:
    return {op.operation_id for op in fdb.jj.operation_heads(repository_id).heads}


def test_recorded_operations_read_back_with_their_metadata(fdb: ForgeDB, world: World) -> None:
    root = operation(description="initialize repo", tags={"args": "jj git init"})
    child = operation([root.operation_id], at=1, is_snapshot=True, description="snapshot")
    assert fdb.jj.record_operations(world.repo.id, [root, child], actor_id=world.writer.id) == 2
    got = fdb.jj.resolve_operation(world.repo.id, child.operation_id[:12])
    assert (got.operation_id, got.parent_operation_ids) == (child.operation_id, [root.operation_id])
    assert (got.description, got.hostname, got.username) == ("snapshot", "host", "agent")
    assert got.is_snapshot
    assert got.view == {"head_ids": []}
    assert got.started_at == child.started_at
    assert got.ended_at == child.ended_at
    root_back = fdb.jj.resolve_operation(world.repo.id, root.operation_id)
    assert root_back.tags == {"args": "jj git init"}


def test_recording_the_same_batch_twice_changes_nothing(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    batch = chain(20)
    assert fdb.jj.record_operations(world.repo.id, batch, actor_id=world.writer.id) == 20
    before = conn.execute(
        "SELECT md5(string_agg(o::text, '|' ORDER BY o.operation_id)) FROM jj_operations o"
    ).fetchone()
    heads_before = conn.execute("SELECT * FROM jj_operation_heads").fetchall()
    assert fdb.jj.record_operations(world.repo.id, batch, actor_id=world.writer.id) == 0
    assert fdb.jj.record_operations(world.repo.id, batch[5:9], actor_id=world.writer.id) == 0
    after = conn.execute(
        "SELECT md5(string_agg(o::text, '|' ORDER BY o.operation_id)) FROM jj_operations o"
    ).fetchone()
    assert after == before
    assert conn.execute("SELECT * FROM jj_operation_heads").fetchall() == heads_before


def test_a_parent_may_come_later_in_the_same_batch(fdb: ForgeDB, world: World) -> None:
    batch = chain(5)
    recorded = fdb.jj.record_operations(world.repo.id, batch[::-1], actor_id=world.writer.id)
    assert recorded == 5
    assert _heads(fdb, world.repo.id) == {batch[-1].operation_id}


def test_an_operation_whose_parent_is_not_stored_is_refused_and_nothing_is_written(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    orphan = operation(["f" * 128])
    with pytest.raises(InvalidInput, match=r"parent operation f+ is not stored") as refused:
        fdb.jj.record_operations(world.repo.id, [operation(), orphan], actor_id=world.writer.id)
    assert refused.value.field == "operations"
    assert _count(conn, "jj_operations") == 0


def test_a_parent_in_another_repository_does_not_count(fdb: ForgeDB, world: World) -> None:
    root = operation()
    fdb.jj.record_operations(world.private.id, [root], actor_id=world.owner.id)
    with pytest.raises(InvalidInput, match="not stored"):
        fdb.jj.record_operations(
            world.repo.id, [operation([root.operation_id])], actor_id=world.writer.id
        )


def test_one_head_is_not_concurrent_and_two_are(fdb: ForgeDB, world: World) -> None:
    root = operation()
    a, b = operation([root.operation_id], at=1), operation([root.operation_id], at=2)
    fdb.jj.record_operations(world.repo.id, [root, a], actor_id=world.writer.id)
    heads = fdb.jj.operation_heads(world.repo.id)
    assert [h.operation_id for h in heads.heads] == [a.operation_id]
    assert not heads.concurrent
    fdb.jj.record_operations(world.repo.id, [b], actor_id=world.writer.id)
    heads = fdb.jj.operation_heads(world.repo.id)
    assert heads.concurrent
    assert [h.operation_id for h in heads.heads] == [b.operation_id, a.operation_id]
    merge = operation([a.operation_id, b.operation_id], at=3, description="reconcile")
    fdb.jj.record_operations(world.repo.id, [merge], actor_id=world.writer.id)
    assert _heads(fdb, world.repo.id) == {merge.operation_id}


def _dag(size: int, seed: int) -> tuple[list[OperationRecord], set[str]]:
    """A random DAG of ``size`` operations, parents first, with merges and forks."""
    rng = random.Random(seed)
    records: list[OperationRecord] = []
    for n in range(size):
        window = records[-30:]
        if not window:
            parents: list[str] = []
        elif rng.random() < 0.1 and len(window) > 1:
            parents = [r.operation_id for r in rng.sample(window, 2)]
        else:
            parents = [rng.choice(window[-3:]).operation_id]
        records.append(operation(parents, at=n, rng=rng))
    referenced = {p for r in records for p in r.parent_operation_ids}
    return records, {r.operation_id for r in records} - referenced


def test_a_hundred_thousand_operation_dag_with_merges_has_the_right_heads(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    records, heads = _dag(100_000, seed=7)
    assert sum(len(r.parent_operation_ids) > 1 for r in records) > 5_000
    recorded = sum(  # batches as a push sends them: parents stored by an earlier batch
        fdb.jj.record_operations(
            world.repo.id, records[start : start + 20_000], actor_id=world.writer.id
        )
        for start in range(0, len(records), 20_000)
    )
    assert recorded == 100_000
    assert _count(conn, "jj_operations") == 100_000
    assert _heads(fdb, world.repo.id) == heads
    assert fdb.jj.record_operations(world.repo.id, records[:20_000], actor_id=world.writer.id) == 0
    assert _heads(fdb, world.repo.id) == heads


def test_heads_are_right_after_concurrent_ingest_of_diverging_branches(
    db: ForgeDB, world: World
) -> None:
    base = chain(3)
    db.jj.record_operations(world.repo.id, base, actor_id=world.writer.id)
    branches = [chain(200, start=[base[-1].operation_id], at=10) for _ in range(8)]
    barrier = threading.Barrier(len(branches))

    def ingest(branch: list[OperationRecord]) -> int:
        barrier.wait()
        total = 0
        for start in range(0, len(branch), 20):  # many small batches, interleaving
            total += db.jj.record_operations(
                world.repo.id, branch[start : start + 20], actor_id=world.writer.id
            )
        return total

    with ThreadPoolExecutor(len(branches)) as pool:
        assert list(pool.map(ingest, branches)) == [200] * len(branches)
    heads = db.jj.operation_heads(world.repo.id)
    assert heads.concurrent
    assert {h.operation_id for h in heads.heads} == {b[-1].operation_id for b in branches}


def test_the_log_walks_newest_first_in_pages(fdb: ForgeDB, world: World) -> None:
    batch = chain(7)
    twin = operation([batch[2].operation_id], at=4)  # ends when batch[4] does: a tie
    fdb.jj.record_operations(world.repo.id, [*batch, twin], actor_id=world.writer.id)
    whole = fdb.jj.operation_log(world.repo.id, limit=100)
    expected = sorted([*batch, twin], key=lambda r: (r.ended_at, r.operation_id), reverse=True)
    assert [o.operation_id for o in whole.items] == [r.operation_id for r in expected]
    walked: list[str] = []
    cursor = None
    while True:
        page = fdb.jj.operation_log(world.repo.id, limit=3, cursor=cursor)
        walked += [o.operation_id for o in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert walked == [r.operation_id for r in expected]


def test_a_log_cursor_is_bound_to_its_repository(fdb: ForgeDB, world: World) -> None:
    fdb.jj.record_operations(world.repo.id, chain(3), actor_id=world.writer.id)
    cursor = fdb.jj.operation_log(world.repo.id, limit=1).next_cursor
    with pytest.raises(InvalidInput) as refused:
        fdb.jj.operation_log(world.private.id, viewer_id=world.owner.id, cursor=cursor)
    assert refused.value.field == "cursor"


def test_resolve_gives_one_none_or_the_ambiguous_candidates(fdb: ForgeDB, world: World) -> None:
    ids = ["ab" + "0" * 126, "ab" + "1" * 126, "ac" + "0" * 126]
    records = [operation(op_id=i, at=n) for n, i in enumerate(ids)]
    fdb.jj.record_operations(world.repo.id, records, actor_id=world.writer.id)
    assert fdb.jj.resolve_operation(world.repo.id, "ac").operation_id == ids[2]
    assert fdb.jj.resolve_operation(world.repo.id, "ab1").operation_id == ids[1]
    with pytest.raises(AmbiguousPrefix, match='operation id prefix "ab" is ambiguous') as many:
        fdb.jj.resolve_operation(world.repo.id, "ab")
    assert many.value.candidates == ids[:2]
    assert many.value.field == "prefix"
    with pytest.raises(NotFound, match='no operation id starts with "ad"'):
        fdb.jj.resolve_operation(world.repo.id, "ad")


def test_shortest_prefixes_of_operations_use_their_neighbours(fdb: ForgeDB, world: World) -> None:
    ids = ["ab" + "0" * 126, "ab" + "1" * 126, "ac" + "0" * 126, "f" * 128]
    records = [operation(op_id=i, at=n) for n, i in enumerate(ids)]
    fdb.jj.record_operations(world.repo.id, records, actor_id=world.writer.id)
    got = fdb.jj.operations.shortest_prefixes(world.repo.id, ids[::-1])
    assert [(p.id, p.length) for p in got] == list(zip(ids[::-1], [1, 2, 3, 3], strict=True))
    assert got[1].prefix == "ac"


def test_a_private_log_is_hidden_from_strangers_and_shown_to_readers(
    fdb: ForgeDB, world: World
) -> None:
    root = operation()
    fdb.jj.record_operations(world.private.id, [root], actor_id=world.owner.id)
    for viewer in (world.stranger.id, None):
        with pytest.raises(NotFound):
            fdb.jj.resolve_operation(world.private.id, root.operation_id, viewer_id=viewer)
        assert fdb.jj.operation_heads(world.private.id, viewer_id=viewer).heads == []
        assert fdb.jj.operation_log(world.private.id, viewer_id=viewer).items == []
    reader = world.reader.id
    got = fdb.jj.resolve_operation(world.private.id, root.operation_id[:4], viewer_id=reader)
    assert got.operation_id == root.operation_id


def test_recording_needs_the_write_role(fdb: ForgeDB, world: World, conn: Conn) -> None:
    with pytest.raises(PermissionDenied):
        fdb.jj.record_operations(world.repo.id, [operation()], actor_id=world.reader.id)
    with pytest.raises(NotFound):
        fdb.jj.record_operations(world.private.id, [operation()], actor_id=world.stranger.id)
    with pytest.raises(NotFound):
        fdb.jj.record_operations(world.private.id, [], actor_id=world.stranger.id)
    assert _count(conn, "jj_operations") == 0


@pytest.mark.parametrize(
    ("prefix", "message"),
    [("", "must be 1-128 hex digits"), ("AB", "hex"), ("a" * 129, "longer than 128")],
)
def test_a_malformed_prefix_is_refused_naming_it(
    fdb: ForgeDB, world: World, prefix: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        fdb.jj.resolve_operation(world.repo.id, prefix)
    assert refused.value.field == "prefix"


def test_a_batch_must_hold_operation_records(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(InvalidInput, match=r"operations\[1\] must be a OperationRecord"):
        fdb.jj.record_operations(
            world.repo.id,
            [operation(), {"operation_id": "a" * 128}],  # type: ignore[list-item]
            actor_id=world.writer.id,
        )
