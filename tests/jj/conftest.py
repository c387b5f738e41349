"""Helpers of the jj domain's tests: a repository with its people, and jj ids and records."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from support import World as World
from support import make_world

from forge_db import ForgeDB
from forge_db.jj import CommitRecord, OperationRecord

CHANGE_LETTERS = "klmnopqrstuvwxyz"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def world(fdb: ForgeDB) -> World:
    return make_world(fdb)


def operation_id(rng: random.Random | None = None) -> str:
    """A random jj operation id (128 hex)."""
    return rng.randbytes(64).hex() if rng else secrets.token_hex(64)


def commit_id(rng: random.Random | None = None) -> str:
    """A random commit id (40 hex)."""
    return rng.randbytes(20).hex() if rng else secrets.token_hex(20)


def change_id(rng: random.Random | None = None) -> str:
    """A random change id (32 letters k-z)."""
    source = rng or random.SystemRandom()
    return "".join(source.choice(CHANGE_LETTERS) for _ in range(32))


def operation(
    parents: list[str] | None = None,
    *,
    at: int = 0,
    op_id: str | None = None,
    description: str = "op",
    rng: random.Random | None = None,
    **fields: object,
) -> OperationRecord:
    """An operation record ending ``at`` seconds after EPOCH."""
    return OperationRecord(
        operation_id=op_id or operation_id(rng),
        parent_operation_ids=parents or [],
        view_id=operation_id(rng),
        view={"head_ids": []},
        description=description,
        hostname="host",
        username="agent",
        started_at=EPOCH + timedelta(seconds=at),
        ended_at=EPOCH + timedelta(seconds=at, milliseconds=5),
        **fields,
    )


def commit(
    change: str | None = None,
    *,
    at: int = 0,
    predecessors: list[str] | None = None,
    parents: list[str] | None = None,
    rng: random.Random | None = None,
    **fields: object,
) -> CommitRecord:
    """A commit record of ``change`` (a new change when not given)."""
    values: dict[str, object] = {
        "change_id": change or change_id(rng),
        "commit_id": commit_id(rng),
        "parent_commit_ids": parents or [],
        "predecessor_commit_ids": predecessors or [],
        "author_name": "Ada",
        "author_email": "ada@example.com",
        "committer_name": "Ada",
        "committer_email": "ada@example.com",
        "description": "a change",
        "authored_at": EPOCH + timedelta(seconds=at),
        "committed_at": EPOCH + timedelta(seconds=at),
    }
    return CommitRecord.model_validate({**values, **fields})


def chain(length: int, *, start: list[str] | None = None, at: int = 0) -> list[OperationRecord]:
    """``length`` operations, each the child of the one before (the first of ``start``)."""
    records: list[OperationRecord] = []
    parents = start or []
    for n in range(length):
        record = operation(parents, at=at + n)
        records.append(record)
        parents = [record.operation_id]
    return records
