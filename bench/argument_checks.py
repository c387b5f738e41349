"""What checking an operation's arguments costs, without a server: ``python -m bench.argument_checks``.

Times building the statement of four hot operations (``Op.query(namespace, ...)``, no round
trip) three ways in one process:

- *generated wrapper*: what forge_db does, a wrapper made from the operation's signature that
  runs each annotation's rule;
- *validate_call*: the same build function under pydantic's ``validate_call`` in strict mode,
  the other way considered for the one input vocabulary;
- *before* (with ``--before PATH``): the earlier hand-written checks of another checkout.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, validate_call

from forge_db.auth import Auth
from forge_db.issues import Issues
from forge_db.query import Namespace

from .run import RESULTS

_STRICT = ConfigDict(strict=True, arbitrary_types_allowed=True)


class _Echo:
    def run(self, query: Any) -> Any:
        return query


def _calls(namespace: Any) -> dict[str, tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    return {
        "auth.get_session": (Auth.get_session, ("a" * 43,), {}),
        "issues.get": (Issues.get, (7, 42), {"viewer_id": 3}),
        "issues.create": (
            Issues.create,
            (7,),
            {"actor_id": 3, "title": "benchmark issue", "labels": ["bug", "docs"]},
        ),
        "issues.list": (Issues.list, (7,), {"labels": ["bug"], "limit": 50}),
    }


def main(argv: list[str] | None = None) -> int:
    """Time the builds and write ``bench/results/<date>-argument-checks.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.argument_checks", description=__doc__)
    parser.add_argument("--before", type=Path, default=None, help="checkout of earlier code")
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    namespace: Namespace[Any] = Namespace(object())
    rows: list[dict[str, Any]] = []

    def timed(label: str, implementation: str, call: Any) -> None:
        best = min(timeit.repeat(call, number=args.number, repeat=5)) / args.number * 1e6
        rows.append({"operation": label, "implementation": implementation, "µs": round(best, 3)})
        print(f"  {label:<20} {implementation:<20} {best:6.2f} µs", file=sys.stderr)

    for label, (op, positional, keywords) in _calls(namespace).items():
        timed(label, "generated wrapper", lambda: op.query(namespace, *positional, **keywords))
        validated = validate_call(config=_STRICT)(op.__wrapped__)
        timed(label, "validate_call", lambda: validated(namespace, *positional, **keywords))
        timed(label, "no checks", lambda: op.__wrapped__(namespace, *positional, **keywords))
    if args.before is not None:
        from .shape_check import load_before

        before = load_before(args.before.resolve())
        old_issues = before.issues.Issues(_Echo())
        old_auth = before.users.Auth(_Echo())
        timed("auth.get_session", "before", lambda: old_auth.get_session("a" * 43))
        timed("issues.get", "before", lambda: old_issues.get(7, 42, viewer_id=3))
        timed(
            "issues.create",
            "before",
            lambda: old_issues.create(
                repository_id=7, author_id=3, title="benchmark issue", labels=["bug", "docs"]
            ),
        )
        timed("issues.list", "before", lambda: old_issues.list(7, labels=["bug"], limit=50))
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "what": "building a statement, arguments checked three ways (best of 5 repeats)",
        "number": args.number,
        "rows": rows,
    }
    output = args.output or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-argument-checks.json"
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"results in {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
