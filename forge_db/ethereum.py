"""Ethereum primitives the forge needs: EIP-55 addresses, EIP-191 signatures, EIP-4361 messages.

The cryptography is libsecp256k1 (``coincurve``) and Keccak-256 (``eth-hash``); this module only
arranges their inputs. Parsing follows the ABNF of EIP-4361 strictly: a message that does not
conform is refused, never repaired.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import coincurve
from eth_hash.auto import keccak
from pydantic import BaseModel, ConfigDict

from .errors import AuthenticationFailed, InvalidInput

__all__ = [
    "SiweMessage",
    "canonical_address",
    "checksum_address",
    "format_siwe_message",
    "parse_siwe_message",
    "recover_signer",
    "siwe_message",
    "wallet_username",
]

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HIGH_NIBBLES: Final = frozenset("89abcdef")
_SECP256K1_HALF_N: Final = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def checksum_address(address: str) -> str:
    """The EIP-55 mixed-case form of a ``0x`` + 40 hex digit address."""
    lower = address[2:].lower()
    digest = keccak(lower.encode("ascii")).hex()
    # A letter is upper-cased where the digest's nibble is 8 or more (digits have no case).
    return "0x" + "".join(
        c.upper() if d in _HIGH_NIBBLES else c for c, d in zip(lower, digest, strict=False)
    )


def canonical_address(address: str, field: str = "wallet_address") -> str:
    """Validate an address (EIP-55 checksum verified when mixed-case); return it lowercase."""
    if not isinstance(address, str) or not _HEX_ADDRESS.fullmatch(address):
        raise InvalidInput(f"{field} must be 0x followed by 40 hex digits", field=field)
    digits = address[2:]
    mixed = digits != digits.lower() and digits != digits.upper()
    if mixed and checksum_address(address) != address:
        raise InvalidInput(f"{field} fails its EIP-55 checksum", field=field)
    return "0x" + digits.lower()


def wallet_username(address: str) -> str:
    """The username a wallet's first sign-in takes: ``eth-`` and the address in base 36.

    The schema's ``wallet_username()`` computes the same (and a CHECK reserves it to that
    wallet); 31 base-36 digits hold all 160 bits, so no two wallets share a name.
    """
    number = int(canonical_address(address, "address")[2:], 16)
    digits = []
    for _ in range(31):
        number, digit = divmod(number, 36)
        digits.append("0123456789abcdefghijklmnopqrstuvwxyz"[digit])
    return "eth-" + "".join(reversed(digits))


def _eip191_hash(message: str) -> bytes:
    data = message.encode("utf-8")
    return bytes(keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data))


def recover_signer(message: str, signature: object) -> str:
    """The lowercase address whose key made this EIP-191 ``personal_sign`` signature."""
    if isinstance(signature, str):
        try:
            raw = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise AuthenticationFailed("bad_signature", "signature is not hex") from None
    elif isinstance(signature, bytes | bytearray):
        raw = bytes(signature)
    else:  # JSON clients send null, numbers, booleans: refused like any bad signature
        raise AuthenticationFailed("bad_signature", "signature must be hex text or bytes")
    if len(raw) != 65:
        raise AuthenticationFailed("bad_signature", "signature must be 65 bytes")
    v = raw[64] - 27 if raw[64] >= 27 else raw[64]
    if v not in (0, 1) or int.from_bytes(raw[32:64], "big") > _SECP256K1_HALF_N:
        raise AuthenticationFailed("bad_signature", "signature is not canonical")
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            raw[:64] + bytes([v]), _eip191_hash(message), hasher=None
        )
    except (ValueError, TypeError):
        raise AuthenticationFailed("bad_signature", "signature recovers no key") from None
    return "0x" + bytes(keccak(public.format(compressed=False)[1:]))[-20:].hex()


# --- EIP-4361 --------------------------------------------------------------------------------

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_AUTHORITY = re.compile(
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"
    rf"(?:\[[0-9A-Fa-f:.]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})+)"
    r"(?::[0-9]*)?"
)
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+\-.]*:(?:[{_UNRESERVED}{_SUB_DELIMS}:/?#\[\]@]|{_PCT})*")
_STATEMENT = re.compile(rf"[{_UNRESERVED}{_SUB_DELIMS}:/?#\[\]@ ]*")
_REQUEST_ID = re.compile(rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})*")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_CHAIN_ID = re.compile(r"[0-9]{1,20}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+\-][0-9]{2}:[0-9]{2})"
)
_PREAMBLE = " wants you to sign in with your Ethereum account:"

# Lengths the specification leaves to implementers: generous for real clients, finite for abuse.
MAX_MESSAGE_LENGTH: Final = 8192
MAX_RESOURCES: Final = 32


class SiweMessage(BaseModel):
    """The terms of an EIP-4361 sign-in message."""

    model_config = ConfigDict(frozen=True)

    scheme: str | None = None
    domain: str
    address: str
    statement: str | None = None
    uri: str
    version: str = "1"
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()


def _malformed(why: str) -> AuthenticationFailed:
    return AuthenticationFailed("malformed_message", f"malformed sign-in message: {why}")


def _timestamp(text: str, term: str) -> datetime:
    if not _DATE_TIME.fullmatch(text):
        raise _malformed(f"{term} is not an RFC 3339 date-time")
    try:
        value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise _malformed(f"{term} is not a valid date-time") from None
    return value


def _tagged(lines: list[str], index: int, tag: str, pattern: re.Pattern[str], term: str) -> str:
    if index >= len(lines) or not lines[index].startswith(tag):
        raise _malformed(f"expected '{tag.strip()}' on line {index + 1}")
    value = lines[index][len(tag) :]
    if not pattern.fullmatch(value):
        raise _malformed(f"{term} is not valid")
    return value


def parse_siwe_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message, refusing anything that does not follow its ABNF exactly."""
    if not isinstance(text, str):
        raise _malformed("not text")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise _malformed(f"longer than {MAX_MESSAGE_LENGTH} characters")
    if "\r" in text or "\x00" in text:
        raise _malformed("carriage returns and NUL bytes are not allowed")
    lines = text.split("\n")
    if len(lines) < 9 or not lines[0].endswith(_PREAMBLE):
        raise _malformed("does not begin with '<domain> wants you to sign in ...'")
    origin = lines[0][: -len(_PREAMBLE)]
    scheme: str | None = None
    if "://" in origin:
        scheme, origin = origin.split("://", 1)
        if not _SCHEME.fullmatch(scheme):
            raise _malformed("scheme is not valid")
    if not _AUTHORITY.fullmatch(origin):
        raise _malformed("domain is not an RFC 3986 authority")
    address = lines[1]
    if not _HEX_ADDRESS.fullmatch(address) or checksum_address(address) != address:
        raise _malformed("address is not an EIP-55 checksummed address")
    if lines[2] != "":
        raise _malformed("expected an empty line after the address")
    statement: str | None = None
    index = 3
    if lines[3] != "":
        statement = lines[3]
        if not _STATEMENT.fullmatch(statement):
            raise _malformed("statement holds characters outside RFC 3986 reserved/unreserved")
        index = 4
        if lines[index] != "":
            raise _malformed("expected an empty line after the statement")
    index += 1
    uri = _tagged(lines, index, "URI: ", _URI, "URI")
    version = _tagged(lines, index + 1, "Version: ", re.compile("1"), "version (must be 1)")
    chain_id = int(_tagged(lines, index + 2, "Chain ID: ", _CHAIN_ID, "chain ID"))
    nonce = _tagged(lines, index + 3, "Nonce: ", _NONCE, "nonce")
    issued_at = _timestamp(
        _tagged(lines, index + 4, "Issued At: ", re.compile(".*"), ""), "issued-at"
    )
    index += 5
    optional: dict[str, str] = {}
    for tag, key in (
        ("Expiration Time: ", "expiration_time"),
        ("Not Before: ", "not_before"),
        ("Request ID: ", "request_id"),
    ):
        if index < len(lines) and lines[index].startswith(tag):
            optional[key] = lines[index][len(tag) :]
            index += 1
    resources: list[str] = []
    if index < len(lines) and lines[index] == "Resources:":
        index += 1
        while index < len(lines) and lines[index].startswith("- "):
            resource = lines[index][2:]
            if not _URI.fullmatch(resource):
                raise _malformed(f"resource {len(resources) + 1} is not a URI")
            resources.append(resource)
            index += 1
        if len(resources) > MAX_RESOURCES:
            raise _malformed(f"more than {MAX_RESOURCES} resources")
    if index != len(lines):
        raise _malformed(f"unexpected content on line {index + 1}")
    request_id = optional.get("request_id")
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise _malformed("request ID is not valid")
    return SiweMessage(
        scheme=scheme,
        domain=origin,
        address=address,
        statement=statement,
        uri=uri,
        version=version,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=(
            _timestamp(optional["expiration_time"], "expiration-time")
            if "expiration_time" in optional
            else None
        ),
        not_before=(
            _timestamp(optional["not_before"], "not-before") if "not_before" in optional else None
        ),
        request_id=request_id,
        resources=tuple(resources),
    )


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def format_siwe_message(message: SiweMessage) -> str:
    """The EIP-4361 text of ``message``: what a client asks the wallet to sign."""
    origin = f"{message.scheme}://{message.domain}" if message.scheme else message.domain
    lines = [f"{origin}{_PREAMBLE}", message.address, ""]
    if message.statement:
        lines.append(message.statement)
    lines += [
        "",
        f"URI: {message.uri}",
        f"Version: {message.version}",
        f"Chain ID: {message.chain_id}",
        f"Nonce: {message.nonce}",
        f"Issued At: {_rfc3339(message.issued_at)}",
    ]
    if message.expiration_time is not None:
        lines.append(f"Expiration Time: {_rfc3339(message.expiration_time)}")
    if message.not_before is not None:
        lines.append(f"Not Before: {_rfc3339(message.not_before)}")
    if message.request_id is not None:
        lines.append(f"Request ID: {message.request_id}")
    if message.resources:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in message.resources]
    return "\n".join(lines)


DEFAULT_STATEMENT: Final = "Sign in to the forge."
# As long as a nonce lives by default: a message that outlives its nonce could not be used.
DEFAULT_MESSAGE_TTL: Final = timedelta(minutes=10)
_MAX_CHAIN_ID: Final = 10**20 - 1  # the ABNF's 1*DIGIT, held to what the parser accepts


def _term(value: str | None, pattern: re.Pattern[str], field: str, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(f"{field} must be {what}", field=field)
    return value


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be a datetime with a time zone", field=field)
    return value


def siwe_message(
    *,
    domain: str,
    address: str,
    nonce: str,
    uri: str | None = None,
    scheme: str | None = None,
    statement: str | None = DEFAULT_STATEMENT,
    chain_id: int = 1,
    issued_at: datetime | None = None,
    expires_in: timedelta | None = DEFAULT_MESSAGE_TTL,
    not_before: datetime | None = None,
    request_id: str | None = None,
    resources: Sequence[str] = (),
) -> str:
    """The EIP-4361 text a wallet signs to sign in to ``domain``, with sensible defaults.

    ``address`` may be in any case: the message carries its EIP-55 form. ``uri`` defaults to
    the origin (``https://<domain>/``, or the ``scheme`` given), ``issued_at`` to now in whole
    seconds, and the message expires ``expires_in`` after it (``None``: never). A term that
    EIP-4361 does not allow is ``InvalidInput`` naming it; what is returned parses back with
    :func:`parse_siwe_message` to the same terms.
    """
    address = checksum_address(canonical_address(address, "address"))
    _term(domain, _AUTHORITY, "domain", "a host, optionally with a port (an RFC 3986 authority)")
    _term(scheme, _SCHEME, "scheme", "a URI scheme such as https")
    _term(nonce, _NONCE, "nonce", "at least 8 letters or digits")
    statement = _term(statement or None, _STATEMENT, "statement", "one line of URI characters")
    _term(request_id, _REQUEST_ID, "request_id", "URI path characters")
    uri = _term(uri, _URI, "uri", "an absolute URI") or f"{scheme or 'https'}://{domain}/"
    if isinstance(resources, str):
        raise InvalidInput(
            "resources must be a sequence of URIs, not one string", field="resources"
        )
    for resource in resources:
        _term(resource, _URI, "resources", "absolute URIs")
    if len(resources) > MAX_RESOURCES:
        raise InvalidInput(f"resources: at most {MAX_RESOURCES}", field="resources")
    if type(chain_id) is not int or not 0 <= chain_id <= _MAX_CHAIN_ID:
        raise InvalidInput("chain_id must be a whole number, 0 or more", field="chain_id")
    issued = _aware(issued_at, "issued_at") or datetime.now(UTC).replace(microsecond=0)
    if expires_in is not None and (
        not isinstance(expires_in, timedelta) or expires_in <= timedelta(0)
    ):
        raise InvalidInput("expires_in must be a positive timedelta, or None", field="expires_in")
    message = SiweMessage(
        scheme=scheme,
        domain=domain,
        address=address,
        statement=statement,
        uri=uri,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued,
        expiration_time=issued + expires_in if expires_in is not None else None,
        not_before=_aware(not_before, "not_before"),
        request_id=request_id,
        resources=tuple(resources),
    )
    text = format_siwe_message(message)
    if len(text) > MAX_MESSAGE_LENGTH:
        raise InvalidInput(
            f"the message would be longer than {MAX_MESSAGE_LENGTH} characters", field="resources"
        )
    return text
