"""The jj domain's input vocabulary: ids as jj spells them, prefixes of them, and content.

jj shows an operation id as 128 hex digits (64 bytes of BLAKE2b), a commit id as 40 hex digits,
and a change id as 32 letters of its reverse-hex alphabet ``z`` (0) ... ``k`` (15). Prefixes
resolve over ``COLLATE "C"`` indexes as the range ``[prefix, prefix || '~')``: every id letter
sorts below ``~``, so the range holds exactly the ids that start with the prefix.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final, Literal

from ..inputs import Bounded, ListOf, Rule, Text
from ..inputs import Refused as _Refused

__all__ = [
    "MAX_BATCH",
    "MAX_BLOBS_BYTES",
    "MAX_BLOB_BYTES",
    "Batch",
    "BlobContent",
    "BlobContents",
    "BlobHash",
    "BlobHashes",
    "ChangeId",
    "ChangePrefix",
    "CommitPrefix",
    "LockOperation",
    "OperationId",
    "OperationPrefix",
    "Prefix",
    "PrefixIds",
    "Reason",
    "RepoPath",
    "RepoPaths",
    "Uuid",
    "UuidPrefix",
    "change_to_hex",
    "prefix_upper",
    "uuid_bounds",
]

MAX_BATCH: Final = 100_000
"""Records in one bulk call (operations, commits)."""
MAX_BLOB_BYTES: Final = 104_857_600
"""One blob: 100 MiB, the schema's ``blobs_size_check``."""
MAX_BLOBS_BYTES: Final = 268_435_456
"""One ``put_blobs`` call: 256 MiB in all."""

OPERATION_RULE: Final = Text(
    128, pattern=r"[0-9a-f]{128}", explain="must be 128 lowercase hex digits", sample="a" * 128
)
CHANGE_RULE: Final = Text(
    32, pattern=r"[k-z]{32}", explain="must be 32 letters from k to z", sample="k" * 32
)
OperationId = Annotated[str, OPERATION_RULE]
"""A jj operation id: 128 lowercase hex digits."""
ChangeId = Annotated[str, CHANGE_RULE]
"""A jj change id: 32 letters of jj's reverse-hex alphabet (k-z)."""
OperationPrefix = Annotated[
    str,
    Text(128, pattern=r"[0-9a-f]{1,128}", explain="must be 1-128 hex digits", sample="a"),
]
"""A prefix of an operation id."""
ChangePrefix = Annotated[
    str, Text(32, pattern=r"[k-z]{1,32}", explain="must be 1-32 letters from k to z", sample="k")
]
"""A prefix of a change id."""
CommitPrefix = Annotated[
    str, Text(40, pattern=r"[0-9a-f]{1,40}", explain="must be 1-40 hex digits", sample="a")
]
"""A prefix of a commit id."""
Prefix = Annotated[
    str,
    Text(
        40,
        pattern=r"[k-z]{1,32}|[0-9a-f]{1,40}",
        explain="must be a change id prefix (k-z) or a commit id prefix (hex)",
        sample="k",
    ),
]
"""A prefix of a change id (k-z) or of a commit id (hex), as ``jj log`` takes either."""
PrefixIds = Annotated[
    list[str],
    ListOf(
        Text(
            40,
            pattern=r"[k-z]{32}|[0-9a-f]{40}",
            explain="must be a change id (32 letters k-z) or a commit id (40 hex)",
            sample="k" * 32,
        ),
        1000,
    ),
]
"""Up to 1,000 change ids or commit ids (a page of ``jj log``, and then some)."""
OperationIds = Annotated[list[str], ListOf(OPERATION_RULE, 1000)]
"""Up to 1,000 operation ids."""
LockOperation = Literal["sync", "remove", "modify", "spawn"]
"""What a workspace lock is held for: one lock per (workspace, operation)."""
Reason = Annotated[str, Text(1000, sample="")]
"""Why a state transition was made."""
PATH_RULE: Final = Text(4096, min_length=1, controls=False, sample="README")
RepoPath = Annotated[str, PATH_RULE]
"""A path in a repository's tree (or a working copy): 1-4096 characters, no control ones."""
RepoPaths = Annotated[list[str], ListOf(PATH_RULE, MAX_BATCH)]
"""Up to 100,000 paths."""


def _uuid_hex(prefix: str) -> str:
    digits = prefix.replace("-", "").lower()
    if not 1 <= len(digits) <= 32:
        raise ValueError("must hold 1-32 hex digits of a UUID")
    return digits


class _Uuid(Rule):
    sample = uuid.UUID("01900000-0000-7000-8000-000000000000")

    def check(self, value: Any) -> uuid.UUID:
        if type(value) is not uuid.UUID:
            raise _Refused("must be a uuid.UUID")
        return value


Uuid = Annotated[uuid.UUID, _Uuid()]
"""A UUID (workspace and agent ids are UUIDv7)."""
UuidPrefix = Annotated[
    str,
    Text(
        36,
        pattern=r"[0-9a-fA-F-]{1,36}",
        explain="must be hex digits of a UUID (dashes allowed)",
        sample="0190",
        refine=_uuid_hex,
    ),
]
"""A prefix of a UUID, with or without its dashes."""


class _Hash(Rule):
    sample = "0" * 64

    def check(self, value: Any) -> str:
        if type(value) is not str or len(value) != 64:
            raise _Refused("must be a SHA-256 hash: 64 lowercase hex digits")
        if value.strip("0123456789abcdef"):
            raise _Refused("must be a SHA-256 hash: 64 lowercase hex digits")
        return value


HASH_RULE: Final = _Hash()
BlobHash = Annotated[str, HASH_RULE]
"""A blob's SHA-256, as 64 lowercase hex digits."""
BlobHashes = Annotated[list[str], ListOf(HASH_RULE, 100_000)]
"""Up to 100,000 blob hashes (the negotiation of a large push)."""


class _Content(Rule):
    sample = b"content"

    def check(self, value: Any) -> bytes:
        if type(value) is not bytes:
            raise _Refused("must be bytes")
        if len(value) > MAX_BLOB_BYTES:
            raise _Refused(f"is larger than {MAX_BLOB_BYTES} bytes (100 MiB)")
        return value


class _Contents(Rule):
    sample = [b"content"]

    def check(self, value: Any) -> list[bytes]:
        if type(value) not in (list, tuple):
            raise _Refused("must be a list of bytes")
        if len(value) > MAX_BATCH:
            raise _Refused(f"holds more than {MAX_BATCH} blobs")
        total = 0
        for index, item in enumerate(value):
            if type(item) is not bytes:
                raise _Refused("must be bytes", f"[{index}]")
            if len(item) > MAX_BLOB_BYTES:
                raise _Refused(f"is larger than {MAX_BLOB_BYTES} bytes (100 MiB)", f"[{index}]")
            total += len(item)
        if total > MAX_BLOBS_BYTES:
            raise _Refused(f"hold more than {MAX_BLOBS_BYTES} bytes (256 MiB) in all")
        return list(value)


BlobContent = Annotated[bytes, _Content()]
"""A file's content: at most 100 MiB."""
BlobContents = Annotated[list[bytes], _Contents()]
"""Up to 100,000 contents, each at most 100 MiB, 256 MiB in all."""
Batch = Annotated[int, Bounded(1, 10_000)]
"""How many rows one garbage-collection batch may remove."""

_HEX_OF_CHANGE: Final = str.maketrans("zyxwvutsrqponmlk", "0123456789abcdef")


def change_to_hex(change_id: str) -> str:
    """A change id in ordinary hex (jj shows change ids in reverse hex ``z``..``k``)."""
    return change_id.translate(_HEX_OF_CHANGE)


def prefix_upper(prefix: str) -> str:
    """The exclusive upper bound of the ids starting with ``prefix`` in ``COLLATE "C"``."""
    return prefix + "~"


def uuid_bounds(hex_prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The least and greatest UUID whose hex digits start with ``hex_prefix``."""
    return (
        uuid.UUID(hex_prefix.ljust(32, "0")),
        uuid.UUID(hex_prefix.ljust(32, "f")),
    )
