"""EIP-55 addresses, EIP-191 signer recovery and strict EIP-4361 parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given
from hypothesis import strategies as st

from forge_db import AuthenticationFailed, InvalidInput
from forge_db.ethereum import (
    SiweMessage,
    canonical_address,
    checksum_address,
    format_siwe_message,
    parse_siwe_message,
    recover_signer,
    siwe_message,
)

# Published EIP-55 test vectors.
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]

EXAMPLE = (
    "https://example.com wants you to sign in with your Ethereum account:\n"
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n"
    "\n"
    "I accept the Terms of Service: https://example.com/tos\n"
    "\n"
    "URI: https://example.com/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891756abcdEFGH\n"
    "Issued At: 2021-09-30T16:25:24Z\n"
    "Expiration Time: 2021-09-30T16:35:24.000Z\n"
    "Not Before: 2021-09-30T16:20:24+00:00\n"
    "Request ID: req-1:a@b\n"
    "Resources:\n"
    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
    "- https://example.com/my-web2-claim.json"
)


@pytest.mark.parametrize("address", EIP55)
def test_checksum_matches_the_published_vectors(address: str) -> None:
    assert checksum_address(address.lower()) == address


@pytest.mark.parametrize("address", EIP55)
def test_canonical_address_accepts_checksummed_lower_and_upper(address: str) -> None:
    lower = address.lower()
    assert canonical_address(address) == lower
    assert canonical_address(lower) == lower
    assert canonical_address("0x" + address[2:].upper()) == lower


def test_canonical_address_refuses_a_wrong_checksum() -> None:
    broken = EIP55[0][:-1] + ("D" if EIP55[0][-1] == "d" else "d")
    with pytest.raises(InvalidInput, match="EIP-55") as info:
        canonical_address(broken)
    assert info.value.field == "wallet_address"


@pytest.mark.parametrize(
    "bad",
    ["", "0x123", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x" + "g" * 40, "0x" + "a" * 41],
)
def test_canonical_address_refuses_malformed(bad: str) -> None:
    with pytest.raises(InvalidInput):
        canonical_address(bad)


def test_recover_signer_finds_the_signing_key() -> None:
    account = Account.create()
    signed = Account.sign_message(encode_defunct(text="hello forge"), account.key)
    assert recover_signer("hello forge", signed.signature.hex()) == account.address.lower()
    assert recover_signer("hello forge", "0x" + signed.signature.hex()) == account.address.lower()
    assert recover_signer("hello forge", bytes(signed.signature)) == account.address.lower()
    assert recover_signer("hello forgE", signed.signature.hex()) != account.address.lower()


@pytest.mark.parametrize(
    "signature", ["zz", "0x1234", "00" * 65, "11" * 64 + "05", "11" * 32 + "ff" * 32 + "1b"]
)
def test_recover_signer_refuses_malformed_signatures(signature: str) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        recover_signer("message", signature)
    assert info.value.reason == "bad_signature"


def test_parse_reads_every_term() -> None:
    message = parse_siwe_message(EXAMPLE)
    assert message.scheme == "https"
    assert message.domain == "example.com"
    assert message.address == EIP55[0]
    assert message.statement == "I accept the Terms of Service: https://example.com/tos"
    assert message.uri == "https://example.com/login"
    assert message.chain_id == 1
    assert message.nonce == "32891756abcdEFGH"
    assert message.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert message.expiration_time == datetime(2021, 9, 30, 16, 35, 24, tzinfo=UTC)
    assert message.not_before == datetime(2021, 9, 30, 16, 20, 24, tzinfo=UTC)
    assert message.request_id == "req-1:a@b"
    assert len(message.resources) == 2


def test_minimal_message_without_statement_or_options() -> None:
    text = (
        "example.com:8443 wants you to sign in with your Ethereum account:\n"
        f"{EIP55[1]}\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 10\n"
        "Nonce: abcdefgh\nIssued At: 2024-01-01T00:00:00Z"
    )
    message = parse_siwe_message(text)
    assert message.scheme is None
    assert message.domain == "example.com:8443"
    assert message.statement is None
    assert format_siwe_message(message) == text


def test_format_then_parse_is_the_identity() -> None:
    message = parse_siwe_message(EXAMPLE)
    assert parse_siwe_message(format_siwe_message(message)) == message


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda t: t.replace("wants you", "wants  you"), "does not begin"),
        (lambda t: t.replace(EIP55[0], EIP55[0].lower().replace("0x5a", "0x5A")), "EIP-55"),
        (lambda t: t.replace("Version: 1", "Version: 2"), "version"),
        (lambda t: t.replace("Chain ID: 1", "Chain ID: one"), "chain ID"),
        (lambda t: t.replace("Nonce: 32891756abcdEFGH", "Nonce: short"), "nonce"),
        (lambda t: t.replace("Nonce: 32891756abcdEFGH", "Nonce: has space1"), "nonce"),
        (lambda t: t.replace("2021-09-30T16:25:24Z", "2021-09-30 16:25:24"), "issued-at"),
        (lambda t: t.replace("2021-09-30T16:25:24Z", "2021-02-30T16:25:24Z"), "issued-at"),
        (lambda t: t.replace("\n\nURI", "\nURI"), "empty line"),
        (lambda t: t.replace("URI: https://example.com/login", "URI: not a uri"), "URI"),
        (lambda t: t + "\ntrailing", "unexpected content"),
        (lambda t: t.replace("\n", "\r\n"), "carriage"),
        (lambda t: t.replace("I accept", "I\x00accept"), "NUL"),
        (lambda t: t.replace("I accept", "I accépt"), "statement"),
        (lambda t: t.replace("https://example.com wants", "ht tp://example.com wants"), "scheme"),
        (lambda t: t.replace("https://example.com wants", "https://exa mple.com wants"), "domain"),
        (
            lambda t: t.replace("- https://example.com/my-web2-claim.json", "- not a uri"),
            "resource",
        ),
        (lambda t: t.replace("Request ID: req-1:a@b", "Request ID: a b"), "request ID"),
        (lambda t: "x" * 9000, "longer than"),
        (lambda t: t.split("\nExpiration")[0].replace("Issued At", "Issued"), "Issued At"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(change, why: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationFailed, match=why) as info:
        parse_siwe_message(change(EXAMPLE))
    assert info.value.reason == "malformed_message"


@given(
    statement=st.text(alphabet="abcXYZ019 .:/?#[]@!$&'()*+,;=-_~", max_size=80),
    chain_id=st.integers(min_value=1, max_value=2**53),
    nonce=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=8,
        max_size=40,
    ),
    resources=st.lists(
        st.sampled_from(["https://a.example/x", "ipfs://bafy/", "urn:isbn:0451450523"]), max_size=5
    ),
)
def test_any_valid_message_round_trips(
    statement: str, chain_id: int, nonce: str, resources: list[str]
) -> None:
    message = SiweMessage(
        scheme="https",
        domain="forge.example",
        address=EIP55[2],
        statement=statement or None,
        uri="https://forge.example/login",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        resources=tuple(resources),
    )
    assert parse_siwe_message(format_siwe_message(message)) == message


@given(st.text(max_size=400))
def test_arbitrary_text_never_escapes_as_another_error(text: str) -> None:
    reasons = set()
    try:
        parse_siwe_message(text)
    except AuthenticationFailed as exc:
        reasons.add(exc.reason)
    assert reasons <= {"malformed_message"}


# --- siwe_message: the public helper that builds a message to sign ------------------------------


def test_siwe_message_parses_back_with_the_checksummed_address_and_defaults() -> None:
    issued = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    text = siwe_message(
        domain="forge.example", address=EIP55[0].lower(), nonce="abcdefgh1234", issued_at=issued
    )
    message = parse_siwe_message(text)
    assert message.address == EIP55[0]
    assert message.domain == "forge.example"
    assert message.scheme is None
    assert message.uri == "https://forge.example/"
    assert message.chain_id == 1
    assert message.nonce == "abcdefgh1234"
    assert message.statement == "Sign in to the forge."
    assert message.issued_at == issued
    assert message.expiration_time == issued + timedelta(minutes=10)


def test_siwe_message_issued_now_in_whole_seconds_unless_told() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    message = parse_siwe_message(siwe_message(domain="a.example", address=EIP55[1], nonce="n" * 8))
    assert message.issued_at >= before
    assert message.issued_at.microsecond == 0


def test_siwe_message_with_a_scheme_puts_it_in_the_origin_and_the_default_uri() -> None:
    text = siwe_message(
        domain="localhost:8000", scheme="http", address=EIP55[1], nonce="abcdefgh", expires_in=None
    )
    message = parse_siwe_message(text)
    assert text.startswith("http://localhost:8000 wants you to sign in")
    assert message.uri == "http://localhost:8000/"
    assert message.expiration_time is None


def test_siwe_message_without_a_statement_omits_the_line() -> None:
    text = siwe_message(domain="a.example", address=EIP55[1], nonce="abcdefgh", statement=None)
    assert parse_siwe_message(text).statement is None


def test_siwe_message_is_signed_and_recovered_to_its_address() -> None:
    account = Account.create()
    text = siwe_message(domain="a.example", address=account.address, nonce="abcdefgh")
    signature = Account.sign_message(encode_defunct(text=text), account.key).signature
    assert recover_signer(text, bytes(signature)) == account.address.lower()


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"address": "0x123"}, "address"),
        ({"address": EIP55[0].replace("0x5a", "0x5A")}, "address"),
        ({"domain": "exa mple.com"}, "domain"),
        ({"scheme": "1http"}, "scheme"),
        ({"nonce": "short"}, "nonce"),
        ({"nonce": "has space1"}, "nonce"),
        ({"statement": "two\nlines"}, "statement"),
        ({"uri": "not a uri"}, "uri"),
        ({"chain_id": -1}, "chain_id"),
        ({"chain_id": True}, "chain_id"),
        ({"issued_at": datetime(2026, 1, 1)}, "issued_at"),
        ({"not_before": datetime(2026, 1, 1)}, "not_before"),
        ({"expires_in": timedelta(0)}, "expires_in"),
        ({"request_id": "a b"}, "request_id"),
        ({"resources": ["not a uri"]}, "resources"),
        ({"resources": "https://a.example/"}, "resources"),
        ({"resources": ["https://a.example/"] * 33}, "resources"),
        ({"resources": ["https://a.example/" + "x" * 4000] * 3}, "resources"),
    ],
)
def test_siwe_message_refuses_a_term_eip_4361_does_not_allow_naming_it(
    terms: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"domain": "a.example", "address": EIP55[1], "nonce": "abcdefgh"}
    with pytest.raises(InvalidInput) as info:
        siwe_message(**{**arguments, **terms})  # type: ignore[arg-type]
    assert info.value.field == field
