"""db.users.ssh_keys: OpenSSH keys parsed and fingerprinted as OpenSSH does, unique across
users, found by fingerprint with their user, last use recorded at most once a minute."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from support import make_user

from forge_db import AlreadyExists, ForgeDB, InvalidInput, NotFound
from forge_db.users.ssh_keys import fingerprint_of, parse_key

Conn = psycopg.Connection[Any]


def _line(private: Any, comment: str = "me@laptop") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DSA's serialisation is deprecated, and refused here
        text = (
            private.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
    return f"{text} {comment}"


ACCEPTED: dict[str, Callable[[], Any]] = {
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "rsa-2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa-4096": lambda: rsa.generate_private_key(public_exponent=65537, key_size=4096),
}


def _ssh_keygen_fingerprint(line: str, tmp_path: Path) -> str:
    path = tmp_path / "key.pub"
    path.write_text(line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_a_real_key_of_each_accepted_type_is_added_with_openssh_fingerprint(
    fdb: ForgeDB, kind: str, tmp_path: Path
) -> None:
    user = make_user(fdb)
    line = _line(ACCEPTED[kind]())
    key = fdb.users.add_ssh_key(user.id, line)
    assert key.public_key == " ".join(line.split()[:2])
    assert key.title == "me@laptop"
    assert key.key_type == line.split()[0]
    if shutil.which("ssh-keygen"):
        assert key.fingerprint == _ssh_keygen_fingerprint(line, tmp_path)
    assert key.fingerprint.startswith("SHA256:")
    assert "=" not in key.fingerprint
    assert [k.id for k in fdb.users.list_ssh_keys(user.id)] == [key.id]


def test_the_fingerprint_matches_ssh_keygen_output_of_a_fixed_key() -> None:
    line = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF+CvOHIjLRSymTsbBu4Q74GWnQ0zvgXTgA+mHla4pLa me@host"
    )
    # ssh-keygen -lf prints: 256 SHA256:gJPFLc9SfY7FHdfoUreHMBQ87ZyxjPARoSY2yRY3pcA me@host
    assert parse_key(line)[2] == "SHA256:gJPFLc9SfY7FHdfoUreHMBQ87ZyxjPARoSY2yRY3pcA"
    assert fingerprint_of(b"") == "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "2048 bits"),
        (lambda: dsa.generate_private_key(key_size=1024), "DSA keys are refused"),
    ],
    ids=["rsa-1024", "dsa"],
)
def test_dsa_and_short_rsa_keys_are_refused_with_the_reason(
    fdb: ForgeDB, conn: Conn, make: Any, reason: str
) -> None:
    user = make_user(fdb)
    with pytest.raises(InvalidInput, match=reason) as refused:
        fdb.users.ssh_keys.add(user.id, _line(make()))
    assert refused.value.field == "public_key"
    assert conn.execute("SELECT count(*) FROM ssh_keys").fetchone() == (0,)


@pytest.mark.parametrize(
    "line",
    [
        "not a key",
        "ssh-ed25519 !!!notbase64",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIF+CvOHIjLRSymTsbBu4Q74GWnQ0zvgXTgA+mHla4pLa",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF+CvOHIjLRSymTs",
        "ssh-foo AAAA",
    ],
    ids=["words", "base64", "type-mismatch", "truncated", "unknown-type"],
)
def test_what_is_not_a_key_is_refused(fdb: ForgeDB, line: str) -> None:
    user = make_user(fdb)
    with pytest.raises(InvalidInput) as refused:
        fdb.users.ssh_keys.add(user.id, line)
    assert refused.value.field == "public_key"


def test_a_key_belongs_to_one_account_only(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    line = _line(ed25519.Ed25519PrivateKey.generate())
    fdb.users.add_ssh_key(alice.id, line)
    with pytest.raises(AlreadyExists, match="already registered"):
        fdb.users.add_ssh_key(bob.id, line.replace("me@laptop", "other comment"))
    with pytest.raises(AlreadyExists):
        fdb.users.add_ssh_key(alice.id, line)
    assert fdb.users.list_ssh_keys(bob.id) == []


def test_find_by_fingerprint_returns_the_user_and_their_state(fdb: ForgeDB) -> None:
    user = make_user(fdb)
    key = fdb.users.add_ssh_key(user.id, _line(ed25519.Ed25519PrivateKey.generate()), title="ci")
    found = fdb.users.find_by_ssh_fingerprint(key.fingerprint)
    assert found is not None
    assert (found.key_id, found.user_id, found.username, found.active, found.title) == (
        key.id,
        user.id,
        user.username,
        True,
        "ci",
    )
    fdb.users.deactivate(user.id)
    again = fdb.users.find_by_ssh_fingerprint(key.fingerprint)
    assert again is not None
    assert again.active is False
    assert fdb.users.find_by_ssh_fingerprint("SHA256:" + "A" * 43) is None


def test_last_use_is_recorded_at_most_once_a_minute(fdb: ForgeDB, conn: Conn) -> None:
    user = make_user(fdb)
    key = fdb.users.add_ssh_key(user.id, _line(ed25519.Ed25519PrivateKey.generate()))
    first = fdb.users.find_by_ssh_fingerprint(key.fingerprint)
    assert first is not None
    assert first.last_used_at is not None
    second = fdb.users.find_by_ssh_fingerprint(key.fingerprint)
    assert second is not None
    assert second.last_used_at == first.last_used_at
    conn.execute("UPDATE ssh_keys SET last_used_at = now() - interval '61 seconds'")
    third = fdb.users.find_by_ssh_fingerprint(key.fingerprint)
    assert third is not None
    assert third.last_used_at is not None
    assert third.last_used_at > first.last_used_at


def test_remove_takes_only_the_users_own_key(fdb: ForgeDB) -> None:
    alice, bob = make_user(fdb), make_user(fdb)
    key = fdb.users.add_ssh_key(alice.id, _line(ed25519.Ed25519PrivateKey.generate()))
    assert fdb.users.remove_ssh_key(bob.id, key.id) is False
    assert fdb.users.remove_ssh_key(alice.id, key.id) is True
    assert fdb.users.find_by_ssh_fingerprint(key.fingerprint) is None


def test_a_key_of_a_missing_user_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound):
        fdb.users.add_ssh_key(2**62, _line(ed25519.Ed25519PrivateKey.generate()))


def test_a_bad_fingerprint_is_refused_by_name(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.users.find_by_ssh_fingerprint("MD5:aa:bb")
    assert refused.value.field == "fingerprint"
