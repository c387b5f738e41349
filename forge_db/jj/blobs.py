"""``db.jj.blobs``: file contents stored once under their SHA-256, per repository.

A blob is stored once for all repositories (``blobs``, keyed by ``sha256(content)``, which the
schema checks); a repository holds the blobs put to it (``repository_blobs``), reads only those,
and a push negotiates against only those, so no repository learns what another stores. Parts
and file trackers reference a blob through that link. Garbage collection removes, in small
batches, links nothing references and blobs no repository holds.

Putting locks every blob that already exists (``FOR KEY SHARE``) before linking it, and the
collector takes its candidates with ``FOR UPDATE SKIP LOCKED``: a blob being put is skipped, and
one the collector took first is stored again by the put. A blob put within ``min_age`` of a
collection is never collected, so put, then reference (in one transaction or within that age).

A push negotiates with ``missing`` first, so a put of many normally carries only new blobs; it
takes the direct path first: its rows, sorted by hash, go by ``COPY`` straight into ``blobs``,
then one statement checks the write role and links them. A blob that already exists (or that a
concurrent put inserted) fails that ``COPY`` with a unique violation; the runner rolls back to
the savepoint it opened and takes the staged path above, which locks what exists. The direct
path needs no lock: what it inserted no other transaction sees, the collector included, until it
commits, and it commits with the links. Two direct puts insert in one order (by hash), so one
waits for the other at the first blob both hold, and never the other way round: no deadlock,
with each other or with the staged path, which inserts in the same order.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Final

from ..access import gate, guard, readable
from ..inputs import Duration, Id
from ..query import Copy, Direct, Namespace, Query, R, Result, Shape, one, read, scalars, write
from .ids import Batch, BlobContent, BlobContents, BlobHash, BlobHashes
from .models import Blob, BlobsStored, GarbageCollected

__all__ = ["Blobs"]

_STAGE: Final = "pg_temp.jj_blob_stage"
# toast_tuple_target at its maximum keeps a staged blob of up to ~8 KB in the heap page:
# staging then never writes (nor the statement reads back) the temporary table's TOAST.
_SETUP: Final = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (hash bytea, content bytea) "
    "WITH (toast_tuple_target = 8160) ON COMMIT DROP"
)
_COPY: Final = f"COPY {_STAGE} (hash, content) FROM STDIN (FORMAT BINARY)"
_TYPES: Final = ("bytea", "bytea")
_DIRECT: Final = "COPY blobs (hash, content) FROM STDIN (FORMAT BINARY)"
# The direct path's statement, after its COPY inserted every blob of the put: the write guard
# (which raises for a stranger, a reader, an archived repository: the operation's transaction,
# the blobs included, then rolls back), and a link for each. No link can exist yet for a blob
# the COPY just inserted, so the insert has no ON CONFLICT. A link (r, h) references blobs (h)
# by a foreign key that is not deferrable and restricts deletes: while any link of h exists,
# committed or written by this transaction, blob h exists too and the COPY of h fails on the
# primary key. A link another open transaction inserts is checked at the end of its statement,
# and the check finds blob h committed (then the COPY fails again), or inserted by that same
# transaction (then the COPY waits for it on the primary key: it commits, and the COPY fails;
# it aborts, and its link goes with it), or no blob h it can see (this COPY's is not): that
# check fails, and the insert here, waiting for it on the link's key, goes on once it aborted.
# A collector removing blob h holds it FOR UPDATE, which no key check passes, and removes it
# only when no link is left. So each hash here is linked for the first time, and ``created``
# (every blob of the put is new) is the number of links. The hashes
# go in binary (``%(hashes)b``): psycopg's text form of a bytea[] escapes every byte, 7 ms for
# 1,000 hashes against 0.2 ms.
_LINK_NEW: Final = f"""
    WITH guard AS ({guard("write")}),
    linked AS (
        INSERT INTO repository_blobs (repository_id, hash)
        SELECT guard.id, k.hash FROM guard CROSS JOIN unnest(%(hashes)b::bytea[]) AS k (hash)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM linked) AS created, (SELECT count(*) FROM linked) AS linked
    WHERE {gate()}
"""
_DEFAULT_MIN_AGE: Final = timedelta(hours=1)


def _put(keys: str, contents: str) -> str:
    """The steps of a put, shared by one blob and many.

    ``keys`` is a CTE of the hashes put, ``contents`` a relation of (hash, content) read once,
    by the insert: the content never passes through a CTE (which would copy it into a
    tuplestore and, referenced twice, hash it along with the keys). The existing blobs are
    found by one index scan over the array of keys, whatever the size of ``blobs`` and however
    wrong the planner's guess of an unanalyzed staging table's rows. Lock what exists, store
    what does not (ordered by hash, so concurrent puts wait on each other in one order and
    never deadlock), then link every blob to the repository (an upload again refreshes the
    link's age).
    """
    return f"""
    locked AS (
        SELECT b.hash FROM blobs b
        WHERE b.hash = ANY ((SELECT array_agg(hash) FROM {keys})::bytea[])
        ORDER BY b.hash FOR KEY SHARE
    ),
    inserted AS (
        INSERT INTO blobs (hash, content)
        SELECT i.hash, i.content FROM {contents} i CROSS JOIN guard
        WHERE i.hash NOT IN (SELECT hash FROM locked)
        ORDER BY i.hash
        ON CONFLICT (hash) DO NOTHING
        RETURNING hash
    ),
    linked AS (
        INSERT INTO repository_blobs (repository_id, hash)
        SELECT guard.id, k.hash FROM {keys} k CROSS JOIN guard
        WHERE (SELECT count(*) FROM inserted) >= 0
        ORDER BY k.hash
        ON CONFLICT (repository_id, hash) DO UPDATE SET uploaded_at = now()
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted) AS created, (SELECT count(*) FROM linked) AS linked
    WHERE {gate()}
    """


def _stored(hashes: list[str]) -> Shape[BlobsStored]:
    def convert(result: Result) -> BlobsStored:
        created = int(result.rows[0][0]) if result.rows else 0
        return BlobsStored(hashes=hashes, created=created)

    return Shape(convert, {"created": int, "linked": int})


class Blobs(Namespace[R]):
    """Content-addressed blobs of a repository (write role to put, read role to get)."""

    @write
    def put(self, repository_id: Id, content: BlobContent, *, actor_id: Id) -> Query[BlobsStored]:
        """Store one file's content under its SHA-256 (once, however often it is put)."""
        digest = hashlib.sha256(content).digest()
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            incoming AS (SELECT %(hash)s::bytea AS hash, %(content)s::bytea AS content),
            {_put("incoming", "incoming")}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "hash": digest,
                "content": content,
            },
            _stored([digest.hex()]),
        )

    @write
    def put_many(
        self, repository_id: Id, contents: BlobContents, *, actor_id: Id
    ) -> Query[BlobsStored]:
        """Store many contents in one ``COPY``; their hashes in the order given."""
        digests = [hashlib.sha256(content).digest() for content in contents]
        # Sorted by hash: the order in which every put inserts (module docstring).
        rows = sorted(dict(zip(digests, contents, strict=True)).items())
        who = {"repository_id": repository_id, "actor_id": actor_id}
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            -- Every part of a statement reads one snapshot: the insert still sees the staged
            -- rows this deletes, and reads their content from the table itself.
            staged AS (DELETE FROM {_STAGE} RETURNING hash),
            {_put("staged", _STAGE)}
            """,
            who,
            _stored([d.hex() for d in digests]),
            copy=Copy(
                _SETUP,
                _COPY,
                _TYPES,
                rows,
                direct=Direct(_DIRECT, _LINK_NEW, {**who, "hashes": [h for h, _ in rows]}),
            ),
        )

    @read
    def get(self, repository_id: Id, hash: BlobHash, *, viewer_id: Id | None = None) -> Query[Blob]:
        """A blob of the repository by its SHA-256 (hex)."""
        return Query(
            f"""
            SELECT 'sha256'::text AS algorithm, encode(b.hash, 'hex') AS hash, b.size, b.content
            FROM repository_blobs rb JOIN blobs b ON b.hash = rb.hash
            WHERE rb.repository_id = %(repository_id)s AND rb.hash = decode(%(hash)s, 'hex')
              AND {readable()}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "hash": hash},
            one(Blob, f"blob {hash} not found in repository {repository_id}"),
        )

    @read
    def missing(
        self, repository_id: Id, hashes: BlobHashes, *, viewer_id: Id | None = None
    ) -> Query[list[str]]:
        """Which of ``hashes`` the repository lacks, in the order given (a push's negotiation)."""
        return Query(
            f"""
            WITH allowed AS (
                SELECT CASE WHEN {readable()} THEN 1
                            ELSE raise_error('FDN01', 'repository not found') END AS ok
            )
            SELECT h.hash
            FROM unnest(%(hashes)s::text[]) WITH ORDINALITY AS h (hash, position)
            WHERE EXISTS (SELECT FROM allowed WHERE ok = 1)
              AND NOT EXISTS (SELECT FROM repository_blobs rb
                              WHERE rb.repository_id = %(repository_id)s
                                AND rb.hash = decode(h.hash, 'hex'))
            ORDER BY h.position
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "hashes": hashes},
            scalars(str),
        )

    @write
    def collect_garbage(
        self, *, batch: Batch = 1000, min_age: Duration = _DEFAULT_MIN_AGE
    ) -> Query[GarbageCollected]:
        """One small batch of garbage collection; repeat while it removes anything."""
        return Query(
            """
            SELECT links_deleted, blobs_deleted, bytes_freed
            FROM jj_collect_garbage(%(batch)s, %(min_age)s)
            """,
            {"batch": batch, "min_age": min_age},
            one(GarbageCollected, "garbage collection returned nothing"),
        )
