"""Every ``@read`` operation can run on a read replica: none of its statements writes.

With ``replicas=[...]`` an operation declared ``@read`` is sent to a streaming standby, where a
statement that writes (an UPDATE in a CTE, ``nextval``, a volatile function that inserts) fails
with "cannot execute ... in a read-only transaction". Each distinct statement of every read is
run here in a READ ONLY transaction, which refuses exactly what a standby refuses.
"""

from __future__ import annotations

import itertools
from typing import Any

import psycopg
from psycopg import errors as pgerrors

from forge_db.query import Namespace

from .operations import OPERATIONS, _variants

READS = sorted(path for path, op in OPERATIONS.items() if not op.writes)
# A list's thousands of filter and order combinations share their statement's skeleton, and a
# write would sit in the skeleton: the first this many per operation cover it.
PER_OPERATION = 64


def test_there_are_reads_to_check() -> None:
    assert len(READS) > 20


def test_no_read_writes(conn: psycopg.Connection[Any]) -> None:
    writing = []
    for path in READS:
        made = _variants(Namespace(object()), OPERATIONS[path], path)
        for _args, query in itertools.islice(made, PER_OPERATION):
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    conn.execute(query.sql, query.params)
                    raise psycopg.Rollback
            except pgerrors.ReadOnlySqlTransaction as exc:
                writing.append(f"{path}: {exc.diag.message_primary}")
            except psycopg.Error:
                pass  # refused for another reason (sample ids that find nothing, say): no write
    assert not writing, writing
