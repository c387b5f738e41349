"""Every parameter of every operation, fed hostile values: only forge_db's errors come out.

A value an operation cannot take is ``InvalidInput`` naming the parameter (or another
``ForgeDBError``, such as ``AuthenticationFailed`` for a credential, or ``NotFound``); never a
``TypeError``, ``AttributeError``, ``UnicodeEncodeError`` or any other raw exception, through
either API. Operations added later are covered by the same enumeration.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from forge_db import ForgeDB
from forge_db.errors import ForgeDBError, InvalidInput

from .operations import OPERATIONS, bound, statement_variants

HOSTILE: list[Any] = [
    None,
    -1,
    0,
    2**63,
    2**64,
    math.nan,
    math.inf,
    True,
    1.5,
    "",
    "\x00",
    "\ud800",
    "x" * 1_000_000,
    [],
    [None],
    ["\ud800"],
    {},
    object(),
    b"\xff",
]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


@pytest.mark.parametrize("path", sorted(OPERATIONS))
def test_hostile_arguments_give_only_forge_db_errors(fdb: ForgeDB, path: str) -> None:
    args, _ = statement_variants(path)[0]
    operation = bound(fdb, path)
    raw: list[str] = []
    for name in args:
        for value in HOSTILE:
            try:
                operation(**{**args, name: value})
            except InvalidInput as exc:
                # A rule over two parameters may name the other one; it must name one of them.
                if exc.field is not None and exc.field not in args:
                    raw.append(f"{name}={_describe(value)}: InvalidInput names {exc.field!r}")
            except ForgeDBError:
                pass
            except Exception as exc:  # the defect this test exists to find
                raw.append(f"{name}={_describe(value)}: {type(exc).__name__}: {exc}"[:300])
    assert not raw, f"{path}:\n" + "\n".join(raw)
