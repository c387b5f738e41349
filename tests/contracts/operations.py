"""Every public operation, and valid arguments for it, found by introspection.

The contract tests (statements, hostile input, privacy) run over all of them, so an operation
added to any domain is covered without a line of test code. Arguments come from the input
vocabulary: each ``forge_db.inputs.Rule`` offers a ``sample``; bools, literals, ``None`` and
``UNSET`` are enumerated.
"""

from __future__ import annotations

import inspect
import itertools
import types
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from forge_db.database import Domains
from forge_db.errors import ForgeDBError
from forge_db.inputs import UNSET, ListOf, Rule, Text, Unset
from forge_db.pagination import Keyset
from forge_db.query import Namespace, Query, operation, walk

__all__ = [
    "OPERATIONS",
    "Candidate",
    "bound",
    "candidates",
    "parameters",
    "statement_variants",
]

Candidate = Any

OPERATIONS: dict[str, operation[Any, Any, Any]] = dict(walk(Domains))
"""Every operation of ``ForgeDB``, by its dotted path (``db.issues.labels.create``)."""


def bound(db: Any, path: str) -> Any:
    """The operation at ``path`` bound on ``db`` (a ForgeDB, an AsyncForgeDB or a proxy)."""
    target = db
    for part in path.split(".")[1:]:
        target = getattr(target, part)
    return target


def namespace_of(db: Any, path: str) -> Namespace[Any]:
    """The namespace object holding the operation at ``path`` on ``db``."""
    target = db
    for part in path.split(".")[1:-1]:
        target = getattr(target, part)
    assert isinstance(target, Namespace)
    return target


def parameters(op: operation[Any, Any, Any]) -> dict[str, tuple[inspect.Parameter, Any]]:
    """The operation's parameters (without ``self``) and their annotations, extras kept."""
    build = op.__wrapped__
    hints = get_type_hints(build, include_extras=True)
    return {
        name: (parameter, hints.get(name, Any))
        for name, parameter in inspect.signature(build).parameters.items()
        if name != "self"
    }


def _variants_of_rule(rule: Rule) -> list[Candidate]:
    if isinstance(rule, ListOf):
        first = _variants_of_rule(rule.item)
        second = [_other(v) for v in first]
        return [[], [first[0]], [first[0], second[0]]]
    sample = rule.sample
    if isinstance(rule, Text):
        return [sample, _other(sample)] if sample else [sample, "sample"]
    if isinstance(sample, bool):
        return [False, True]
    return [sample, _other(sample)]


def _other(value: Any) -> Any:
    """A second valid value of the same kind, different from ``value``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str) and len(value) == 40 and set(value) <= set("0123456789abcdef"):
        return "b" * 40 if value != "b" * 40 else "c" * 40
    if isinstance(value, str) and value.startswith("#"):
        return "#000000"
    if isinstance(value, str) and value:
        return value + "2"
    return value


def candidates(annotation: Any) -> list[Candidate]:
    """Valid values for a parameter of this annotation, the most ordinary first."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        rules = [e for e in extras if isinstance(e, Rule)]
        if rules:
            return _variants_of_rule(rules[0])
        return candidates(base)
    if origin in (Union, types.UnionType):
        found: list[Candidate] = []
        for member in get_args(annotation):
            for value in candidates(member):
                if not any(
                    value is seen or (type(value) is type(seen) and value == seen) for seen in found
                ):
                    found.append(value)
        return found
    if origin is Literal:
        return list(get_args(annotation))
    if annotation is type(None):
        return [None]
    if annotation is Unset:
        return [UNSET]
    if annotation is bool:
        return [False, True]
    if annotation is int:
        return [1, 2]
    if annotation is str:
        return ["sample", "other"]
    if origin in (list, set, frozenset, tuple):
        (item, *_) = get_args(annotation) or (str,)
        values = candidates(item)
        kind = origin if origin is not tuple else tuple
        return [kind(values[:1]), kind(values[:2])]
    return [None]


def _key_sample(kind: type) -> Any:
    return {
        int: 1,
        float: 0.5,
        str: "a",
        datetime: datetime(2026, 1, 1, tzinfo=UTC),
        uuid.UUID: uuid.UUID(int=1),
    }[kind]


def _build(
    namespace: Namespace[Any], op: operation[Any, Any, Any], args: dict[str, Any]
) -> Query[Any] | None:
    try:
        return op.query(namespace, **args)
    except ForgeDBError:
        return None


def _text(query: Query[Any]) -> str:
    return query.sql if isinstance(query.sql, str) else repr(query.sql)


def _signed_in_example() -> dict[str, Any]:
    from support import DOMAIN, Wallet

    wallet = Wallet()
    message = wallet.message("a" * 24)
    return {"message": message, "signature": wallet.sign(message), "domain": DOMAIN}


def _token_example() -> dict[str, Any]:
    from forge_db.auth.tokens import new_access_token

    return {"token": new_access_token()}


EXAMPLES: dict[str, Callable[[], dict[str, Any]]] = {
    "db.auth.sign_in_with_ethereum": _signed_in_example,
    "db.auth.tokens.verify": _token_example,
}
"""Arguments the vocabulary cannot make up: credentials that must verify."""


_VARIANTS: dict[str, list[tuple[dict[str, Any], Query[Any]]]] = {}


def statement_variants(path: str) -> list[tuple[dict[str, Any], Query[Any]]]:
    """One valid call (arguments and query) per distinct statement of the operation at ``path``."""
    if path not in _VARIANTS:
        _VARIANTS[path] = list(_variants(Namespace(object()), OPERATIONS[path], path))
    return _VARIANTS[path]


def _variants(
    namespace: Namespace[Any], op: operation[Any, Any, Any], path: str = ""
) -> Iterator[tuple[dict[str, Any], Query[Any]]]:
    """One valid call for each distinct statement the operation can send.

    A base call uses the first valid candidate of every parameter; a parameter whose candidates
    change the statement's text (a filter, an order, a cursor) is then varied, and every
    combination of those is built, keeping one call per distinct SQL text.
    """
    params = parameters(op)
    options: dict[str, list[Candidate]] = {}
    for name, (_parameter, annotation) in params.items():
        values = candidates(annotation)
        if name == "cursor":
            values = [None, "<cursor>"]
        options[name] = values
    for name, value in (EXAMPLES[path]() if path in EXAMPLES else {}).items():
        options[name] = [value]
    base = _valid_base(namespace, op, options)
    if base is None:
        raise AssertionError(f"{op.__name__}: no valid call found from the vocabulary's samples")
    base_query = _build(namespace, op, _with_cursor(namespace, op, base))
    assert base_query is not None
    varying = [
        name
        for name, values in options.items()
        if any(
            (query := _build(namespace, op, _with_cursor(namespace, op, {**base, name: value})))
            is not None
            and _text(query) != _text(base_query)
            for value in values
        )
    ]
    seen: set[str] = set()
    for combination in itertools.product(*(options[name] for name in varying)):
        args = _with_cursor(namespace, op, {**base, **dict(zip(varying, combination, strict=True))})
        query = _build(namespace, op, args)
        if query is None:
            continue
        text = _text(query)
        if text not in seen:
            seen.add(text)
            yield args, query


def _valid_base(
    namespace: Namespace[Any], op: operation[Any, Any, Any], options: dict[str, list[Candidate]]
) -> dict[str, Any] | None:
    base = {name: values[0] for name, values in options.items()}
    if _build(namespace, op, _with_cursor(namespace, op, base)) is not None:
        return base
    # Change one parameter at a time, then two, until a call is valid.
    names = list(options)
    for width in (1, 2):
        for chosen in itertools.combinations(names, width):
            for values in itertools.product(*(options[n] for n in chosen)):
                attempt = {**base, **dict(zip(chosen, values, strict=True))}
                if _build(namespace, op, _with_cursor(namespace, op, attempt)) is not None:
                    return attempt
    return None


def _with_cursor(
    namespace: Namespace[Any], op: operation[Any, Any, Any], args: dict[str, Any]
) -> dict[str, Any]:
    """``args`` with the ``"<cursor>"`` placeholder replaced by a real cursor of that list."""
    if args.get("cursor") != "<cursor>":
        return args
    first = _build(namespace, op, {**args, "cursor": None})
    if first is None or first.shape.paging is None:
        return {**args, "cursor": None}
    keyset, scope = first.shape.paging
    assert isinstance(keyset, Keyset)
    cursor = keyset.encode(scope, [_key_sample(kind) for kind in keyset.kinds])
    return {**args, "cursor": cursor}


def required(params: Sequence[str], op: operation[Any, Any, Any]) -> list[str]:
    """The names of ``params`` that have no default."""
    signature = parameters(op)
    return [n for n in params if signature[n][0].default is inspect.Parameter.empty]
