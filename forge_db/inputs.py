"""The input vocabulary: one ``Annotated`` type per kind of value an operation accepts.

An operation's signature says what it takes (``repository_id: Id``, ``title: Title``,
``name: RefName``); the :func:`~forge_db.query.read` and :func:`~forge_db.query.write`
decorators check every argument against its annotation in one place, through pydantic's
``validate_call`` in strict mode, before the operation builds its SQL. A wrong value is
``InvalidInput`` naming the parameter: no string where a list is expected, no ``"no"`` where a
bool is, no ``True`` where an id is. The database enforces the same rules with CHECK
constraints; these give the clearer message and spare the round trip.

Each rule also carries a ``sample``: a valid value that tests use to build every operation's
statement without knowing the operation (see ``tests/contracts``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from ipaddress import ip_address
from types import NoneType, UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from .errors import InvalidInput
from .ethereum import canonical_address

__all__ = [
    "COMMIT_RULE",
    "ID_RULE",
    "MAX_DURATION",
    "NAME_RULE",
    "UNSET",
    "AwareTime",
    "Body",
    "Bounded",
    "Color",
    "CommitId",
    "CommitIds",
    "Credential",
    "Cursor",
    "Day",
    "Description",
    "Duration",
    "Email",
    "Flag",
    "Id",
    "IdList",
    "IpText",
    "Limit",
    "Line",
    "ListOf",
    "Name",
    "Names",
    "OptionalLine",
    "RefName",
    "RefPattern",
    "Refused",
    "RepoName",
    "Role",
    "Rule",
    "Text",
    "Title",
    "Unset",
    "Username",
    "WalletAddress",
    "compile_check",
]

_BIGINT: Final = 2**63
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_DURATION: Final = timedelta(days=3660)  # ten years: any longer is a mistake, not a policy


class Unset(enum.Enum):
    """The type of :data:`UNSET`: an argument left out, where ``None`` is a value of its own."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


class Refused(ValueError):
    """A value outside its annotated type; ``where`` locates it inside a list (``[2]``)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def _refuse(message: str) -> Refused:
    return Refused(message)


class Rule:
    """An ``Annotated`` marker: validates one argument, and offers a valid ``sample`` of it."""

    sample: Any = None

    def check(self, value: Any) -> Any:
        """The value to use, or raise :class:`Refused` saying what is wrong."""
        raise NotImplementedError

    def _validate(self, value: Any) -> Any:
        try:
            return self.check(value)
        except Refused as exc:
            raise PydanticCustomError("forge_db", exc.message) from None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # The same rules serve pydantic models that use these types.
        return core_schema.no_info_plain_validator_function(self._validate)


class _Id(Rule):
    sample = 1

    def check(self, value: Any) -> int:
        if type(value) is not int or not 0 < value < _BIGINT:
            raise _refuse("must be a positive integer id")
        return value


class Bounded(Rule):
    """An integer within ``low..high`` (never a bool)."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.sample = low

    def check(self, value: Any) -> int:
        if type(value) is not int or not self.low <= value <= self.high:
            raise _refuse(f"must be an integer from {self.low} to {self.high}")
        return value


class Text(Rule):
    """Text of bounded length: no NUL bytes, valid Unicode, optionally one line or stripped.

    ``controls=False`` refuses control characters too (names, where a tab is a mistake).
    """

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        strip: bool = False,
        single_line: bool = False,
        pattern: str | None = None,
        explain: str = "",
        sample: str = "sample",
        refine: Callable[[str], str] | None = None,
        controls: bool = True,
    ) -> None:
        self.max_length = max_length
        self.min_length = min_length
        self.strip = strip
        self.single_line = single_line
        self.pattern = re.compile(pattern) if pattern else None
        self.explain = explain
        self.sample = sample
        self.refine = refine
        self.controls = controls

    def check(self, value: Any) -> str:
        if type(value) is not str:
            raise _refuse("must be text")
        text: str = value
        if "\x00" in text:
            raise _refuse("must not contain NUL bytes")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise _refuse("is not valid Unicode text (a lone surrogate?)") from None
        if len(text) > self.max_length:
            raise _refuse(f"is longer than {self.max_length} characters")
        if self.strip:
            text = text.strip()
        if self.single_line and ("\n" in text or "\r" in text):
            raise _refuse("must be a single line")
        if not self.controls and _CONTROL.search(text):
            raise _refuse("must not contain control characters (tabs, line breaks, ...)")
        if len(text) < self.min_length:
            raise _refuse(
                "must not be empty"
                if self.min_length == 1
                else f"is shorter than {self.min_length} characters"
            )
        if self.pattern is not None and not self.pattern.fullmatch(text):
            raise _refuse(self.explain or "is not in the expected form")
        if self.refine is not None:
            try:
                text = self.refine(text)
            except ValueError as exc:
                raise _refuse(str(exc)) from None
        return text


class _Flag(Rule):
    sample = True

    def check(self, value: Any) -> bool:
        if type(value) is not bool:
            raise _refuse("must be true or false")
        return value


class _Duration(Rule):
    sample = timedelta(minutes=5)

    def check(self, value: Any) -> timedelta:
        if type(value) is not timedelta or not timedelta(0) < value <= MAX_DURATION:
            raise _refuse(f"must be a positive timedelta of at most {MAX_DURATION.days} days")
        return value


class _AwareTime(Rule):
    sample = datetime(2026, 1, 1).astimezone()

    def check(self, value: Any) -> datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise _refuse("must be a timezone-aware datetime")
        return value


class _Date(Rule):
    sample = date(2026, 1, 1)

    def check(self, value: Any) -> date:
        if type(value) is not date:
            raise _refuse("must be a date")
        return value


class _Wallet(Rule):
    sample = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"

    def check(self, value: Any) -> str:
        try:
            return str(canonical_address(value, "address"))
        except InvalidInput as exc:
            raise _refuse(str(exc).removeprefix("address ")) from None


class _Ip(Rule):
    sample = "127.0.0.1"

    def check(self, value: Any) -> str:
        if type(value) is not str or len(value) > 64:
            raise _refuse("must be an IP address")
        try:
            return str(ip_address(value))
        except ValueError:
            raise _refuse("must be an IP address") from None


class _Passthrough(Rule):
    sample = "sample"

    def check(self, value: Any) -> Any:
        return value


class ListOf(Rule):
    """A list (never a bare string) of up to ``limit`` values of ``item``.

    Repeats are dropped, or refused when ``repeats`` is false (an order, where a repeat is a
    mistake); ``fold`` lowercases text items first.
    """

    def __init__(
        self,
        item: Rule,
        limit: int,
        *,
        at_least: int = 0,
        fold: bool = False,
        repeats: bool = True,
    ) -> None:
        self.item, self.limit, self.at_least, self.fold = item, limit, at_least, fold
        self.repeats = repeats
        self.sample = [item.sample]

    def check(self, value: Any) -> list[Any]:
        if type(value) not in _SEQUENCES:
            raise _refuse("must be a list")
        if len(value) > self.limit:
            raise _refuse(f"holds more than {self.limit} values")
        check = self.item.check
        try:
            items = [check(element) for element in value]
        except Refused:
            for index, element in enumerate(value):  # the rare path: find which one
                try:
                    check(element)
                except Refused as exc:
                    raise Refused(exc.message, f"[{index}]{exc.where}") from None
            raise
        if self.fold:
            items = [v.lower() for v in items]
        unique = list(dict.fromkeys(items)) if len(items) > 1 else items
        if not self.repeats and len(unique) != len(items):
            raise _refuse("must not hold a value twice")
        if len(unique) < self.at_least:
            raise _refuse(f"must hold at least {self.at_least} value(s)")
        return unique


_SEQUENCES: Final = frozenset({list, tuple, set, frozenset})


def _no_double_dots(name: str) -> str:
    if name in (".", "..") or name.lower().endswith(".git"):
        raise ValueError("must not be '.' or '..' or end in .git")
    return name


def _ref_rules(name: str) -> str:
    # git check-ref-format, the rules that matter for safety (the schema's is_valid_ref_name).
    if (
        name == "@"
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c in "~^:?*[\\" for c in name)
        or re.search(r"(^|/)\.|\.\.|@\{|//|^/|/$|\.lock(/|$)|\.$|^-", name)
    ):
        raise ValueError("is not a valid bookmark name (git ref-name rules)")
    return name


def _ref_pattern_rules(pattern: str) -> str:
    # A glob over ref names: with its wildcards read as letters it must be a ref name itself.
    _ref_rules(pattern.replace("*", "x").replace("?", "x"))
    return pattern


def _email_form(email: str) -> str:
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise ValueError("must look like user@domain")
    return email


ID_RULE: Final = _Id()
NAME_RULE: Final = Text(100, min_length=1, sample="bug")
COMMIT_RULE: Final = Text(
    40, pattern=r"[0-9a-f]{40}", explain="must be 40 lowercase hex digits", sample="a" * 40
)

Credential = Annotated[str, _Passthrough()]
"""A client-supplied credential (token, signed message, signature): any value is let through,
for the operation to refuse with ``AuthenticationFailed`` rather than ``InvalidInput``, as a
web backend answers a bad credential with 401 whatever its form."""
Id = Annotated[int, ID_RULE]
"""A positive bigint row id (users, repositories, issues, comments, ...)."""
Flag = Annotated[bool, _Flag()]
"""A real ``bool``: no truthy strings or numbers."""
Limit = Annotated[int, Bounded(1, 100)]
"""A page size."""
Cursor = Annotated[str, Text(1024, sample="")]
"""An opaque page cursor (checked against its list when decoded)."""
Duration = Annotated[timedelta, _Duration()]
"""A positive ``timedelta``, at most ten years."""
AwareTime = Annotated[datetime, _AwareTime()]
"""A timezone-aware ``datetime``."""
Day = Annotated[date, _Date()]
"""A calendar date."""
WalletAddress = Annotated[str, _Wallet()]
"""An Ethereum address, EIP-55 checked when mixed-case; stored lowercase."""
IpText = Annotated[str, _Ip()]
"""An IPv4 or IPv6 address, as text."""
Username = Annotated[
    str,
    Text(
        39,
        min_length=1,
        pattern=r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*",
        explain="may hold letters, digits and single hyphens between them",
        sample="alice",
    ),
]
"""1-39 of letters, digits and single inner hyphens."""
Email = Annotated[
    str, Text(254, min_length=3, strip=True, sample="a@b.example", refine=_email_form)
]
"""``user@domain``."""
RepoName = Annotated[
    str,
    Text(
        100,
        min_length=1,
        pattern=r"[A-Za-z0-9._-]+",
        explain="may hold letters, digits, '.', '_' and '-'",
        sample="forge",
        refine=_no_double_dots,
    ),
]
"""A repository name."""
RefName = Annotated[str, Text(255, min_length=1, sample="main", refine=_ref_rules)]
"""A bookmark or branch name (git ref-name rules)."""
RefPattern = Annotated[str, Text(255, min_length=1, sample="main", refine=_ref_pattern_rules)]
"""A glob over bookmark names: ``*`` and ``?`` within a segment, ``**`` across segments."""
CommitId = Annotated[str, COMMIT_RULE]
"""A git commit id: 40 lowercase hex digits."""
CommitIds = Annotated[list[str], ListOf(COMMIT_RULE, 64)]
"""Up to 64 commit ids (a conflicted bookmark has several)."""
Title = Annotated[str, Text(256, min_length=1, strip=True, single_line=True, sample="title")]
"""A title: 1-256 characters on one line, surrounding whitespace trimmed."""
Body = Annotated[str, Text(65536, sample="body")]
"""Markdown text of at most 64 KiB characters."""
Description = Annotated[str, Text(2000, sample="")]
"""A short description."""
Line = Annotated[str, Text(255, min_length=1, strip=True, single_line=True, sample="line")]
"""A non-empty line of at most 255 characters."""
OptionalLine = Annotated[str, Text(255, single_line=True, sample="")]
"""A line of at most 255 characters, possibly empty."""
Name = Annotated[str, NAME_RULE]
"""A short non-empty name (labels, contexts)."""
Names = Annotated[list[str], ListOf(NAME_RULE, 20, fold=True)]
"""Up to 20 names, compared case-insensitively (lowercased), repeats dropped."""
IdList = Annotated[list[int], ListOf(ID_RULE, 100)]
"""Up to 100 ids, repeats dropped."""
Role = Literal["read", "write", "admin"]
"""A collaborator's role on a repository."""
Color = Annotated[
    str,
    Text(
        7,
        pattern=r"#?[0-9a-fA-F]{6}",
        explain="must be #rrggbb",
        sample="#ededed",
        refine=lambda v: "#" + v.removeprefix("#").lower(),
    ),
]
"""A ``#rrggbb`` colour (stored lowercase, with the ``#``)."""


# --- checking arguments ------------------------------------------------------------------------

Check = Callable[[Any], Any]


def _literal_check(allowed: tuple[Any, ...]) -> Check:
    choices = frozenset(allowed)
    kinds = frozenset(type(a) for a in allowed)
    shown = ", ".join(repr(a) for a in allowed)

    def run(value: Any) -> Any:
        if type(value) not in kinds or value not in choices:
            raise Refused(f"must be one of {shown}")
        return value

    return run


def _exact(kind: type, what: str) -> Check:
    def run(value: Any) -> Any:
        if type(value) is not kind:
            raise Refused(f"must be {what}")
        return value

    return run


def _number(value: Any) -> Any:
    if type(value) not in (int, float) or value != value or value in (float("inf"), float("-inf")):
        raise Refused("must be a finite number")
    return value


def _union_check(members: list[Check], allows_none: bool, allows_unset: bool) -> Check:
    if len(members) == 1 and allows_none and not allows_unset:
        (only,) = members

        def optional(value: Any) -> Any:
            return None if value is None else only(value)

        return optional

    def run(value: Any) -> Any:
        if value is None and allows_none:
            return None
        if value is UNSET and allows_unset:
            return value
        first: Refused | None = None
        for member in members:
            try:
                return member(value)
            except Refused as exc:
                first = first or exc
        raise first or Refused("has no allowed value")

    return run


_COLLECTIONS: Final[dict[Any, str]] = {
    list: "a list",
    set: "a set",
    frozenset: "a set",
    tuple: "a tuple",
}


def _collection_check(kind: Any, item: Check) -> Check:
    name = _COLLECTIONS[kind]

    def run(value: Any) -> Any:
        if type(value) is not kind:
            raise Refused(f"must be {name}")
        checked: list[Any] = []
        element: Any
        for index, element in enumerate(value):
            try:
                checked.append(item(element))
            except Refused as exc:
                raise Refused(exc.message, f"[{index}]{exc.where}") from None
        return kind(checked)

    return run


def _passthrough(value: Any) -> Any:
    return value


def compile_check(annotation: Any) -> Check:
    """The check of one parameter's annotation: the value to use, or ``Refused``.

    Knows the vocabulary's ``Annotated[..., Rule]`` types, ``Literal``, unions (with ``None``
    and ``UNSET``), real ``bool``/``int``/``str``/``float``, and lists, sets and tuples of those;
    anything else is taken as given (the operation's own code checks it).
    """
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        rules = [extra for extra in extras if isinstance(extra, Rule)]
        return rules[0].check if rules else compile_check(base)
    if origin is Literal:
        return _literal_check(get_args(annotation))
    if origin in (Union, UnionType):
        members = get_args(annotation)
        checks = [compile_check(m) for m in members if m is not NoneType and m is not Unset]
        return _union_check(checks, NoneType in members, Unset in members)
    if origin in (list, set, frozenset):
        (item,) = get_args(annotation) or (Any,)
        return _collection_check(origin, compile_check(item))
    if origin is tuple:
        item = get_args(annotation)[0] if get_args(annotation) else Any
        return _collection_check(tuple, compile_check(item))
    if annotation is bool:
        return _exact(bool, "true or false")
    if annotation is int:
        return _exact(int, "an integer")
    if annotation is str:
        return _exact(str, "text")
    if annotation is float:
        return _number
    if annotation is NoneType:
        return _union_check([], True, False)
    return _passthrough
