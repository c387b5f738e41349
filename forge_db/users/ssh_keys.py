"""``db.users.ssh_keys``: users' SSH public keys, and the SSH server's lookup by fingerprint.

A key line (``ssh-ed25519 AAAA... comment``) is parsed with ``cryptography``: ed25519 and ECDSA
keys (also their security-key ``sk-`` forms) and RSA keys of at least 2048 bits are accepted;
DSA and shorter RSA keys are ``InvalidInput`` saying why. The fingerprint is computed as
OpenSSH prints it (``SHA256:`` and the unpadded base64 of the SHA-256 of the key blob) and is
unique across all users, so a key names one account.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import struct
import warnings
from typing import Annotated, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from ..errors import InvalidInput, register_constraint_messages
from ..inputs import Id, Text
from ..query import Namespace, Query, R, affected, many, one, optional, read, write
from .models import SshKey, SshKeyOwner

__all__ = ["MIN_RSA_BITS", "Fingerprint", "PublicKey", "SshKeys", "fingerprint_of", "parse_key"]

register_constraint_messages(
    {
        "ssh_keys_fingerprint_key": "this SSH key is already registered to an account",
        "ssh_keys_title_check": "title: 1-100 characters on one line",
    }
)

MIN_RSA_BITS: Final = 2048
"""Gitea's minimum RSA size (and OpenSSH's default since 2019)."""

_SAMPLE_KEY: Final = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF+CvOHIjLRSymTsbBu4Q74GWnQ0zvgXTgA+mHla4pLa"
)
_ACCEPTED: Final = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)

PublicKey = Annotated[str, Text(16384, min_length=1, strip=True, sample=_SAMPLE_KEY)]
"""An OpenSSH public key line: ``<type> <base64> [comment]``."""
Fingerprint = Annotated[
    str,
    Text(
        50,
        pattern=r"SHA256:[A-Za-z0-9+/]{43}",
        explain="must be SHA256: and 43 characters of unpadded base64, as ssh-keygen -l prints",
        sample="SHA256:gJPFLc9SfY7FHdfoUreHMBQ87ZyxjPARoSY2yRY3pcA",
    ),
]
KeyTitle = Annotated[str, Text(100, min_length=1, strip=True, controls=False, sample="laptop")]

_COLUMNS: Final = "id, user_id, title, key_type, public_key, fingerprint, last_used_at, created_at"


def fingerprint_of(blob: bytes) -> str:
    """The OpenSSH SHA256 fingerprint of a key blob, as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _refused(reason: str) -> InvalidInput:
    return InvalidInput(f"public_key: {reason}", field="public_key")


def parse_key(line: str) -> tuple[str, str, str, str]:
    """The key type, the canonical ``<type> <base64>`` text, its fingerprint and its comment.

    Refuses with ``InvalidInput`` (field ``public_key``) a line that is not an OpenSSH public
    key, a DSA key, an RSA key shorter than :data:`MIN_RSA_BITS` and any other type.
    """
    parts = line.split(None, 2)
    if len(parts) < 2:
        raise _refused("is not an OpenSSH public key line (<type> <base64> [comment])")
    key_type, encoded = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) == 3 else ""
    if key_type == "ssh-dss":
        raise _refused("DSA keys are refused: they are insecure (and OpenSSH dropped them)")
    if key_type not in _ACCEPTED:
        raise _refused(f"key type {key_type[:40]!r} is not accepted (use ed25519, ECDSA or RSA)")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _refused("the key is not valid base64") from None
    (length,) = struct.unpack(">I", blob[:4]) if len(blob) >= 4 else (0,)
    if blob[4 : 4 + length] != key_type.encode():
        raise _refused("the key's contents do not match its type")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = load_ssh_public_key(f"{key_type} {encoded}".encode())
    except (ValueError, UnsupportedAlgorithm):
        raise _refused("the key cannot be read (corrupt or truncated)") from None
    if isinstance(key, dsa.DSAPublicKey):
        raise _refused("DSA keys are refused: they are insecure (and OpenSSH dropped them)")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise _refused(
            f"RSA keys must have at least {MIN_RSA_BITS} bits, this one has {key.key_size}"
        )
    canonical = f"{key_type} {base64.b64encode(blob).decode()}"
    return key_type, canonical, fingerprint_of(blob), comment


class SshKeys(Namespace[R]):
    """Add, list and remove a user's SSH keys; find the account a key belongs to."""

    @write
    def add(
        self, user_id: Id, public_key: PublicKey, *, title: KeyTitle | None = None
    ) -> Query[SshKey]:
        """Add a key; ``title`` defaults to the key's comment, else its type.

        ``AlreadyExists`` when the key (its fingerprint) is registered to any account.
        """
        key_type, canonical, fingerprint, comment = parse_key(public_key)
        name = title or " ".join(comment.split())[:100] or key_type
        return Query(
            f"""
            INSERT INTO ssh_keys (user_id, title, key_type, public_key, fingerprint)
            VALUES (%(user_id)s, %(title)s, %(key_type)s, %(public_key)s, %(fingerprint)s)
            RETURNING {_COLUMNS}
            """,
            {
                "user_id": user_id,
                "title": name,
                "key_type": key_type,
                "public_key": canonical,
                "fingerprint": fingerprint,
            },
            one(SshKey, "SSH key not added"),
        )

    @write
    def find_by_fingerprint(self, fingerprint: Fingerprint) -> Query[SshKeyOwner | None]:
        """The key with this fingerprint and its user (whether active), or ``None``.

        The SSH server's hot path: one lookup on the fingerprint's unique index joined to the
        user by primary key; the key's last use is written at most once a minute.
        """
        return Query(
            """
            WITH found AS (
                SELECT k.id AS key_id, k.key_type, k.fingerprint, k.title, k.last_used_at,
                       u.id AS user_id, u.username, u.active
                FROM ssh_keys k JOIN users u ON u.id = k.user_id
                WHERE k.fingerprint = %(fingerprint)s
            ), touched AS (
                UPDATE ssh_keys k SET last_used_at = now()
                FROM found f
                WHERE k.id = f.key_id
                  AND (f.last_used_at IS NULL OR f.last_used_at < now() - interval '1 minute')
                RETURNING k.id, k.last_used_at
            )
            SELECT f.key_id, f.key_type, f.fingerprint, f.title, f.user_id, f.username, f.active,
                   coalesce((SELECT t.last_used_at FROM touched t), f.last_used_at) AS last_used_at
            FROM found f
            """,
            {"fingerprint": fingerprint},
            optional(SshKeyOwner),
        )

    @read
    def list(self, user_id: Id) -> Query[builtins.list[SshKey]]:
        """A user's keys in the order they were added."""
        return Query(
            f"SELECT {_COLUMNS} FROM ssh_keys WHERE user_id = %(user_id)s ORDER BY created_at, id",
            {"user_id": user_id},
            many(SshKey),
        )

    @write
    def remove(self, user_id: Id, key_id: Id) -> Query[bool]:
        """Remove one of the user's keys; ``False`` if the user has no such key."""
        return Query(
            "DELETE FROM ssh_keys WHERE id = %(key_id)s AND user_id = %(user_id)s",
            {"user_id": user_id, "key_id": key_id},
            affected,
        )
