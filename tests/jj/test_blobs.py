"""db.jj.blobs: content addressing, dedupe under concurrency, negotiation, size limits, GC."""

from __future__ import annotations

import hashlib
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from support import make_world

from forge_db import AsyncForgeDB, Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.jj.ids import MAX_BLOB_BYTES

from .conftest import World, commit

Conn = psycopg.Connection[Any]
NOW = timedelta(microseconds=1)  # a grace period that every earlier put has outlived


def _count(conn: Conn, sql: str, *params: Any) -> int:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def _reference(conn: Conn, repository_id: int, hash_hex: str) -> None:
    """A part of a recorded commit that names the blob as its new content."""
    conn.execute(
        "INSERT INTO parts (repository_id, change_row_id, path, status, new_blob_hash) "
        "SELECT %s, min(id), %s, 'added', decode(%s, 'hex') FROM changes WHERE repository_id = %s",
        (repository_id, f"f-{secrets.token_hex(4)}", hash_hex, repository_id),
    )


def test_a_blob_is_stored_under_its_sha256_and_read_back(fdb: ForgeDB, world: World) -> None:
    stored = fdb.jj.put_blob(world.repo.id, b"hello\n", actor_id=world.writer.id)
    digest = hashlib.sha256(b"hello\n").hexdigest()
    assert (stored.algorithm, stored.hashes, stored.created) == ("sha256", [digest], 1)
    blob = fdb.jj.get_blob(world.repo.id, digest)
    assert (blob.algorithm, blob.hash, blob.size, blob.content) == ("sha256", digest, 6, b"hello\n")
    again = fdb.jj.put_blob(world.repo.id, b"hello\n", actor_id=world.writer.id)
    assert again.created == 0


def test_put_blobs_returns_hashes_in_order_and_dedupes(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    contents = [b"a", b"b", b"a", b"", b"c" * 5000]
    stored = fdb.jj.put_blobs(world.repo.id, contents, actor_id=world.writer.id)
    assert stored.hashes == [hashlib.sha256(c).hexdigest() for c in contents]
    assert stored.created == 4
    assert _count(conn, "SELECT count(*) FROM blobs") == 4
    assert fdb.jj.put_blobs(world.repo.id, contents, actor_id=world.writer.id).created == 0
    assert fdb.jj.get_blob(world.repo.id, stored.hashes[4]).content == b"c" * 5000


def test_the_same_content_in_two_repositories_is_stored_once(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    fdb.jj.put_blob(world.repo.id, b"shared", actor_id=world.writer.id)
    assert fdb.jj.put_blob(world.private.id, b"shared", actor_id=world.owner.id).created == 0
    assert _count(conn, "SELECT count(*) FROM blobs") == 1
    assert _count(conn, "SELECT count(*) FROM repository_blobs") == 2


def test_sixteen_threads_putting_the_same_bytes_leave_one_row(
    db: ForgeDB, world: World, conn: Conn
) -> None:
    content = secrets.token_bytes(4096)
    barrier = threading.Barrier(16)

    def put(n: int) -> int:
        barrier.wait()
        if n % 2:
            return db.jj.put_blobs(world.repo.id, [content, b"x"], actor_id=world.writer.id).created
        return db.jj.put_blob(world.repo.id, content, actor_id=world.writer.id).created

    with ThreadPoolExecutor(16) as pool:
        created = list(pool.map(put, range(16)))
    assert _count(conn, "SELECT count(*) FROM blobs WHERE content = %s", content) == 1
    assert _count(conn, "SELECT count(*) FROM blobs") == 2
    assert sum(created) == 2  # each of the two blobs was new exactly once
    assert _count(conn, "SELECT count(*) FROM repository_blobs") == 2


# The staged path's temporary table lives until the transaction ends (ON COMMIT DROP): inside
# one, it tells which path a put took. The direct path never creates it.
_STAGED = "SELECT to_regclass('pg_temp.jj_blob_stage') IS NOT NULL"


def _staged(tx_connection: Conn) -> bool:
    row = tx_connection.execute(_STAGED).fetchone()
    assert row is not None
    return bool(row[0])


def test_a_put_of_new_blobs_copies_them_straight_into_blobs(
    db: ForgeDB, world: World, conn: Conn
) -> None:
    contents = [secrets.token_bytes(100) for _ in range(5)]
    with db.transaction() as tx:
        stored = tx.jj.put_blobs(world.repo.id, [*contents, contents[0]], actor_id=world.writer.id)
        assert not _staged(tx.connection)
    assert stored.created == 5
    assert stored.hashes[-1] == stored.hashes[0]
    assert _count(conn, "SELECT count(*) FROM blobs") == 5
    assert (
        _count(
            conn, "SELECT count(*) FROM repository_blobs WHERE repository_id = %s", world.repo.id
        )
        == 5
    )


def test_a_put_sends_its_rows_in_hash_order(db: ForgeDB, world: World) -> None:
    """Both paths insert in hash order, whatever order the contents came in: that order is what
    keeps concurrent puts from deadlocking (a race shows it only now and then)."""
    contents = [secrets.token_bytes(64) for _ in range(50)]
    query = db.jj.put_blobs.query(world.repo.id, contents, actor_id=world.writer.id)
    assert query.copy is not None
    assert query.copy.direct is not None
    assert isinstance(query.copy.rows, list)
    keys = [row[0] for row in query.copy.rows]
    assert keys == sorted(hashlib.sha256(c).digest() for c in contents)
    assert isinstance(query.copy.direct.params, dict)
    assert query.copy.direct.params["hashes"] == keys


def test_a_put_holding_an_existing_blob_falls_back_to_staging(
    db: ForgeDB, world: World, conn: Conn
) -> None:
    old = db.jj.put_blob(world.private.id, b"old", actor_id=world.owner.id).hashes[0]
    conn.execute("UPDATE repository_blobs SET uploaded_at = now() - interval '1 day'")
    fresh = [secrets.token_bytes(100) for _ in range(4)]
    with db.transaction() as tx:
        stored = tx.jj.put_blobs(world.private.id, [*fresh, b"old"], actor_id=world.owner.id)
        assert _staged(tx.connection)
        # The savepoint was rolled back and the transaction goes on: it sees one copy of each.
        assert _count(tx.connection, "SELECT count(*) FROM blobs") == 5
        again = tx.jj.put_blobs(world.repo.id, fresh[:2], actor_id=world.writer.id)
    assert (stored.created, again.created) == (4, 0)
    assert stored.hashes[-1] == old
    assert _count(conn, "SELECT count(*) FROM blobs") == 5
    assert _count(conn, "SELECT count(*) FROM repository_blobs") == 7
    # The existing blob's link was put again: its age starts over.
    assert (
        _count(
            conn,
            "SELECT count(*) FROM repository_blobs WHERE uploaded_at > now() - interval '1 hour'",
        )
        == 7
    )


@pytest.mark.anyio
async def test_async_put_takes_the_direct_path_then_falls_back(
    adb: AsyncForgeDB, db: ForgeDB, conn: Conn
) -> None:
    world = make_world(db)
    contents = [secrets.token_bytes(100) for _ in range(3)]
    async with adb.transaction() as tx:
        first = await tx.jj.put_blobs(world.repo.id, contents[:2], actor_id=world.writer.id)
        direct = await (await tx.connection.execute(_STAGED)).fetchone()
        second = await tx.jj.put_blobs(world.repo.id, contents, actor_id=world.writer.id)
        staged = await (await tx.connection.execute(_STAGED)).fetchone()
    assert (direct, staged) == ((False,), (True,))
    assert (first.created, second.created) == (2, 1)
    assert _count(conn, "SELECT count(*) FROM blobs") == 3
    assert _count(conn, "SELECT count(*) FROM repository_blobs") == 3
    with pytest.raises(NotFound):
        await adb.jj.put_blobs(world.private.id, [b"not yours"], actor_id=world.stranger.id)
    assert _count(conn, "SELECT count(*) FROM blobs") == 3


def test_a_refused_direct_put_leaves_no_blob_and_no_link(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    contents = [secrets.token_bytes(100) for _ in range(3)]
    with pytest.raises(NotFound):
        fdb.jj.put_blobs(world.private.id, contents, actor_id=world.stranger.id)
    with pytest.raises(PermissionDenied):
        fdb.jj.put_blobs(world.repo.id, contents, actor_id=world.reader.id)
    fdb.repositories.update(world.private.id, actor_id=world.owner.id, archived=True)
    with pytest.raises(Conflict):
        fdb.jj.put_blobs(world.private.id, contents, actor_id=world.owner.id)
    # Refused inside a caller's transaction that goes on and commits: still nothing.
    with fdb.transaction() as tx:
        with pytest.raises(NotFound):
            tx.jj.put_blobs(world.private.id, contents, actor_id=world.stranger.id)
        tx.meta.server_version()
    assert _count(conn, "SELECT count(*) FROM blobs") == 0
    assert _count(conn, "SELECT count(*) FROM repository_blobs") == 0


def test_eight_threads_putting_overlapping_sets_store_each_blob_once(
    db: ForgeDB, world: World, conn: Conn
) -> None:
    """Each thread shares a third of its blobs with each neighbour (another repository) and with
    each next-but-one (the same repository), each put in its own order: puts meet committed
    blobs (the fallback) and blobs another put is inserting right now (the direct COPY waits for
    it, then falls back), twice over."""
    contents = [secrets.token_bytes(4096) for _ in range(1000)]
    barrier = threading.Barrier(8)
    places = ((world.repo.id, world.writer.id), (world.private.id, world.owner.id))

    def put(n: int) -> int:
        mine = contents[n * 100 : n * 100 + 300]
        repository_id, actor_id = places[n % 2]
        barrier.wait()
        created = 0
        for round_ in range(2):
            ordered = mine[::-1] if (n + round_) % 2 else mine
            created += db.jj.put_blobs(repository_id, ordered, actor_id=actor_id).created
        return created

    with ThreadPoolExecutor(8) as pool:
        created = [f.result(timeout=120) for f in [pool.submit(put, n) for n in range(8)]]
    assert sum(created) == 1000
    assert _count(conn, "SELECT count(*) FROM blobs") == 1000
    assert _count(conn, "SELECT count(DISTINCT content) FROM blobs") == 1000
    for parity, (repository_id, _) in enumerate(places):
        held = {h for n in range(parity, 8, 2) for h in range(n * 100, n * 100 + 300)}
        expected = sorted(hashlib.sha256(contents[h]).digest() for h in held)
        rows = conn.execute(
            "SELECT hash FROM repository_blobs WHERE repository_id = %s ORDER BY hash",
            (repository_id,),
        ).fetchall()
        assert [r[0] for r in rows] == expected


def test_missing_blobs_names_what_the_repository_lacks_in_one_statement(
    fdb: ForgeDB, world: World
) -> None:
    have = fdb.jj.put_blobs(
        world.repo.id, [f"file {n}".encode() for n in range(5000)], actor_id=world.writer.id
    ).hashes
    lacking = [hashlib.sha256(f"other {n}".encode()).hexdigest() for n in range(5000)]
    asked = [h for pair in zip(have, lacking, strict=True) for h in pair]
    assert fdb.jj.missing_blobs(world.repo.id, asked) == lacking
    # A blob stored for another repository is missing here: no repository learns another's.
    assert fdb.jj.missing_blobs(world.private.id, have[:3], viewer_id=world.owner.id) == have[:3]


def test_a_private_blob_is_reachable_only_through_its_repository(
    fdb: ForgeDB, world: World
) -> None:
    digest = fdb.jj.put_blob(world.private.id, b"private", actor_id=world.owner.id).hashes[0]
    for viewer in (world.stranger.id, None):
        with pytest.raises(NotFound):
            fdb.jj.get_blob(world.private.id, digest, viewer_id=viewer)
        with pytest.raises(NotFound):
            fdb.jj.missing_blobs(world.private.id, [digest], viewer_id=viewer)
    with pytest.raises(NotFound):
        fdb.jj.get_blob(world.repo.id, digest, viewer_id=world.stranger.id)
    assert fdb.jj.get_blob(world.private.id, digest, viewer_id=world.reader.id).size == 7


def test_putting_needs_the_write_role(fdb: ForgeDB, world: World, conn: Conn) -> None:
    with pytest.raises(PermissionDenied):
        fdb.jj.put_blob(world.repo.id, b"x", actor_id=world.reader.id)
    with pytest.raises(NotFound):
        fdb.jj.put_blobs(world.private.id, [b"x"], actor_id=world.stranger.id)
    with pytest.raises(NotFound):
        fdb.jj.put_blobs(world.private.id, [], actor_id=world.stranger.id)
    assert _count(conn, "SELECT count(*) FROM blobs") == 0


def test_sizes_beyond_the_limits_are_refused_naming_the_field(fdb: ForgeDB, world: World) -> None:
    too_big = b"\0" * (MAX_BLOB_BYTES + 1)
    with pytest.raises(InvalidInput, match="larger than") as refused:
        fdb.jj.put_blob(world.repo.id, too_big, actor_id=world.writer.id)
    assert refused.value.field == "content"
    with pytest.raises(InvalidInput, match=r"contents\[1\] is larger") as refused:
        fdb.jj.put_blobs(world.repo.id, [b"ok", too_big], actor_id=world.writer.id)
    assert refused.value.field == "contents"
    three = [b"\0" * (MAX_BLOB_BYTES - 1)] * 3
    with pytest.raises(InvalidInput, match="in all"):
        fdb.jj.put_blobs(world.repo.id, three, actor_id=world.writer.id)
    with pytest.raises(InvalidInput) as refused:
        fdb.jj.get_blob(world.repo.id, "XYZ")
    assert refused.value.field == "hash"


def test_garbage_collection_removes_only_what_nothing_references(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    fdb.jj.record_commits(world.repo.id, [commit()], actor_id=world.writer.id)
    kept, dropped = fdb.jj.put_blobs(
        world.repo.id, [b"kept", b"dropped"], actor_id=world.writer.id
    ).hashes
    shared = fdb.jj.put_blob(world.repo.id, b"shared", actor_id=world.writer.id).hashes[0]
    fdb.jj.put_blob(world.private.id, b"shared", actor_id=world.owner.id)
    _reference(conn, world.repo.id, kept)
    _reference(conn, world.repo.id, shared)
    fresh = fdb.jj.collect_garbage()  # within the grace period: nothing goes
    assert (fresh.links_deleted, fresh.blobs_deleted) == (0, 0)
    swept = fdb.jj.collect_garbage(min_age=NOW)
    assert (swept.links_deleted, swept.blobs_deleted, swept.bytes_freed) == (2, 1, 7)
    with pytest.raises(NotFound):
        fdb.jj.get_blob(world.repo.id, dropped)
    assert fdb.jj.get_blob(world.repo.id, kept).content == b"kept"
    assert fdb.jj.get_blob(world.repo.id, shared).content == b"shared"
    with pytest.raises(NotFound):  # the private copy's link went; the blob stays for repo
        fdb.jj.get_blob(world.private.id, shared, viewer_id=world.owner.id)
    idle = fdb.jj.collect_garbage(min_age=NOW)
    assert (idle.links_deleted, idle.blobs_deleted) == (0, 0)


def test_garbage_collection_works_in_small_batches(fdb: ForgeDB, world: World) -> None:
    fdb.jj.put_blobs(world.repo.id, [bytes([n]) for n in range(25)], actor_id=world.writer.id)
    removed = []
    while (batch := fdb.jj.collect_garbage(batch=10, min_age=NOW)).blobs_deleted:
        removed.append(batch.blobs_deleted)
    assert removed == [10, 10, 5]


def test_a_referenced_link_cannot_be_deleted(fdb: ForgeDB, world: World, conn: Conn) -> None:
    fdb.jj.record_commits(world.repo.id, [commit()], actor_id=world.writer.id)
    digest = fdb.jj.put_blob(world.repo.id, b"used", actor_id=world.writer.id).hashes[0]
    _reference(conn, world.repo.id, digest)
    # RESTRICT: PostgreSQL 18 raises restrict_violation, 15 foreign_key_violation.
    refusals = (psycopg.errors.RestrictViolation, psycopg.errors.ForeignKeyViolation)
    with pytest.raises(refusals):
        conn.execute("DELETE FROM repository_blobs")
    with pytest.raises(refusals):
        conn.execute("DELETE FROM blobs")


def test_a_part_cannot_name_a_blob_its_repository_does_not_hold(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    fdb.jj.record_commits(world.repo.id, [commit()], actor_id=world.writer.id)
    digest = fdb.jj.put_blob(world.private.id, b"elsewhere", actor_id=world.owner.id).hashes[0]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        _reference(conn, world.repo.id, digest)


def test_deleting_a_repository_deletes_its_links_and_parts(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    fdb.jj.record_commits(world.repo.id, [commit()], actor_id=world.writer.id)
    digest = fdb.jj.put_blob(world.repo.id, b"gone", actor_id=world.writer.id).hashes[0]
    _reference(conn, world.repo.id, digest)
    fdb.repositories.delete(world.repo.id, actor_id=world.owner.id)
    assert _count(conn, "SELECT count(*) FROM repository_blobs") == 0
    assert fdb.jj.collect_garbage(min_age=NOW).blobs_deleted == 1


def test_collection_racing_puts_that_reference_never_loses_a_referenced_blob(
    db: ForgeDB, world: World, database_url: str
) -> None:
    """Writers put a blob and reference it in one transaction, over and over, while collectors
    sweep with no grace period; every reference must end pointing at a stored blob, and no
    writer may fail because a collector removed what it had just put."""
    db.jj.record_commits(world.repo.id, [commit()], actor_id=world.writer.id)
    # Old, unreferenced copies of what the writers will put: the collectors' prey.
    contents = [f"content {n}".encode() for n in range(60)]
    db.jj.put_blobs(world.repo.id, contents, actor_id=world.writer.id)
    writers, collectors, rounds = 6, 2, 40
    barrier = threading.Barrier(writers + collectors, timeout=60)
    done = threading.Event()

    def write(n: int) -> int:
        barrier.wait()
        with psycopg.connect(database_url, autocommit=True) as conn:
            for r in range(rounds):
                content = contents[(n * 7 + r) % len(contents)]
                with db.transaction() as tx:
                    digest = tx.jj.put_blob(world.repo.id, content, actor_id=world.writer.id)
                    _reference(tx.connection, world.repo.id, digest.hashes[0])
                if r % 10 == 0:  # and now and then drop references, making more garbage
                    conn.execute("DELETE FROM parts WHERE path LIKE 'f-0%%'")
        return rounds

    def collect(_: int) -> int:
        barrier.wait()
        removed = 0
        while not done.is_set():
            removed += db.jj.collect_garbage(batch=20, min_age=NOW).blobs_deleted
        return removed

    with ThreadPoolExecutor(writers + collectors) as pool:
        collecting = [pool.submit(collect, n) for n in range(collectors)]
        writing = [pool.submit(write, n) for n in range(writers)]
        try:
            finished = [f.result() for f in writing]
        finally:
            # Also when a writer failed: the collectors would otherwise sweep forever, and the
            # pool's exit would wait for them instead of reporting the writer's error.
            done.set()
        swept = sum(f.result() for f in collecting)
    assert finished == [rounds] * writers
    with psycopg.connect(database_url) as conn:
        dangling = conn.execute(
            "SELECT count(*) FROM parts p WHERE NOT EXISTS "
            "(SELECT FROM blobs b WHERE b.hash = p.new_blob_hash)"
        ).fetchone()
        referenced = conn.execute("SELECT count(*) FROM parts").fetchone()
    assert dangling == (0,)
    assert referenced is not None
    assert referenced[0] > 0
    assert swept > 0  # the collectors did remove garbage meanwhile
