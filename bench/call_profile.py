"""Where the CPU time of one call goes, forge_db against raw psycopg: ``python -m bench.call_profile``.

``bench.call_cost`` times the steps of a call one by one; their sum fell short of the whole
call's extra CPU time. This profiles the whole call instead. Each workload runs ``--calls``
times through forge_db and as many times through raw psycopg (the very statement, built once,
tuple rows), in interleaved rounds, each phase under ``perf record`` attached to this process
(all its threads: the pool's workers and the deadline's watchdog count too). For every phase:

- the process's CPU time per call (``time.process_time``), split by the share of perf's samples
  in each shared object: the interpreter (``libpython``: every Python-level line, ours and the
  driver's), pydantic-core, psycopg's C part with libpq, libc, the kernel (system calls);
- the hottest C symbols;
- the Python-level function calls per call (``sys.setprofile``, counted in a separate pass).

Needs ``perf`` on the PATH (Linux); without it only CPU times and call counts are reported.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from forge_db import ForgeDB
from forge_db.auth import Auth
from forge_db.issues import Issues

from .call_cost import save, scratch_database, world
from .run import RESULTS

FREQUENCY = 2999


def _group(dso: str) -> str:
    """The part of the stack a shared object belongs to."""
    if "libpython" in dso or dso.startswith("python"):
        return "interpreter (libpython)"
    if "pydantic_core" in dso:
        return "pydantic-core"
    if "psycopg" in dso or "libpq" in dso or "libssl" in dso or "libcrypto" in dso:
        return "psycopg C, libpq"
    if dso.startswith("libc") or "libm." in dso:
        return "libc"
    if "kernel" in dso or dso.startswith("["):
        return "kernel (system calls)"
    return "other"


def _report(data: Path, sort: str) -> list[tuple[int, list[str]]]:
    """``perf report`` rows (sample count, the sort keys) of one recording."""
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "-q", "-n", "--no-children",
         "--sort", sort, "-t", "\t"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        fields = [f.strip() for f in line.split("\t") if f.strip()]
        if len(fields) >= 3 and fields[1].isdigit():
            rows.append((int(fields[1]), fields[2:]))
    return rows


def _phase(work: Callable[[], Any], calls: int, perf: bool, scratch: Path) -> dict[str, Any]:
    """Run ``work`` ``calls`` times under perf; CPU per call, split by shared object."""
    recorder = None
    data = scratch / f"perf-{secrets.token_hex(4)}.data"
    if perf:
        recorder = subprocess.Popen(
            ["perf", "record", "-F", str(FREQUENCY), "-p", str(os.getpid()), "-o", str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)  # perf attaches asynchronously
    started_cpu, started = time.process_time(), time.perf_counter()
    for _ in range(calls):
        work()
    cpu = (time.process_time() - started_cpu) / calls * 1e6
    wall = (time.perf_counter() - started) / calls * 1e6
    result: dict[str, Any] = {"cpu_us_per_call": round(cpu, 1), "wall_us_per_call": round(wall, 1)}
    if recorder is None:
        return result
    recorder.send_signal(signal.SIGINT)
    recorder.wait(timeout=60)
    by_dso: collections.Counter[str] = collections.Counter()
    for samples, keys in _report(data, "dso"):
        by_dso[_group(keys[0])] += samples
    total = sum(by_dso.values()) or 1
    result["cpu_us_by_part"] = {part: round(cpu * n / total, 1) for part, n in by_dso.most_common()}
    symbols = _report(data, "dso,sym")
    result["top_symbols_us"] = [
        {"symbol": keys[-1], "dso": keys[0], "us": round(cpu * n / total, 1)}
        for n, keys in sorted(symbols, key=lambda row: -row[0])[:15]
    ]
    result["samples"] = total
    data.unlink(missing_ok=True)
    return result


def _python_calls(work: Callable[[], Any], calls: int) -> dict[str, Any]:
    """Python-level and C-level function calls per call (counted, not timed), by function."""
    counts: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()

    def count(frame: Any, event: str, arg: Any) -> None:
        counts[event] += 1
        if event == "call":
            code = frame.f_code
            where = code.co_filename.rsplit("site-packages/", 1)[-1].rsplit("/work/main/", 1)[-1]
            functions[f"{where}:{code.co_qualname}"] += 1
        elif event == "c_call":
            functions[f"C {getattr(arg, '__qualname__', repr(arg))}"] += 1

    sys.setprofile(count)
    try:
        for _ in range(calls):
            work()
    finally:
        sys.setprofile(None)
    return {
        "python_calls": round(counts["call"] / calls, 1),
        "c_calls": round(counts["c_call"] / calls, 1),
        "by_function": {name: round(n / calls, 2) for name, n in functions.most_common()},
    }


def _only_ours(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    """The functions forge_db's call runs more often than raw psycopg's, and by how much."""
    extra = {
        name: round(n - theirs["by_function"].get(name, 0.0), 2)
        for name, n in ours["by_function"].items()
    }
    return {name: n for name, n in sorted(extra.items(), key=lambda kv: -kv[1]) if n > 0}


def _difference(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    parts = set(ours.get("cpu_us_by_part", {})) | set(theirs.get("cpu_us_by_part", {}))
    return {
        part: round(
            ours.get("cpu_us_by_part", {}).get(part, 0.0)
            - theirs.get("cpu_us_by_part", {}).get(part, 0.0),
            1,
        )
        for part in sorted(parts)
    }


def _median_phase(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose CPU per call is the median (its split goes with it)."""
    ordered = sorted(rows, key=lambda r: r["cpu_us_per_call"])
    return ordered[len(ordered) // 2]


def run(url: str, calls: int, rounds: int, scratch: Path) -> dict[str, Any]:
    """Every workload, forge_db and raw, interleaved; the median round of each."""
    perf = shutil.which("perf") is not None
    db = ForgeDB.connect(url, min_size=1, max_size=4)
    raw = psycopg.connect(url, autocommit=True)
    try:
        _, repo, issue, token = world(db, raw, "profile")
        workloads: dict[str, tuple[Callable[[], Any], Any]] = {
            "get issue (a read)": (
                lambda: db.issues.get(repo.id, issue.number),
                Issues.get.query(db.issues, repo.id, issue.number),
            ),
            "session lookup (a write)": (
                lambda: db.auth.get_session(token),
                Auth.get_session.query(db.auth, token),
            ),
        }
        report: dict[str, Any] = {"perf": perf, "frequency_hz": FREQUENCY, "calls": calls}
        for name, (ours, query) in workloads.items():

            def theirs(q: Any = query) -> Any:
                return raw.execute(q.sql, q.params).fetchall()

            for work in (ours, theirs):
                for _ in range(500):
                    work()
            phases: dict[str, list[dict[str, Any]]] = {"forge_db": [], "raw psycopg": []}
            for _ in range(rounds):
                phases["forge_db"].append(_phase(ours, calls, perf, scratch))
                phases["raw psycopg"].append(_phase(theirs, calls, perf, scratch))
            counted_ours, counted_raw = _python_calls(ours, 1000), _python_calls(theirs, 1000)
            forge, plain = _median_phase(phases["forge_db"]), _median_phase(phases["raw psycopg"])
            report[name] = {
                "forge_db": forge,
                "raw psycopg": plain,
                "cpu_ratio": round(forge["cpu_us_per_call"] / plain["cpu_us_per_call"], 2),
                "wall_ratio": round(forge["wall_us_per_call"] / plain["wall_us_per_call"], 2),
                "extra_cpu_us": round(forge["cpu_us_per_call"] - plain["cpu_us_per_call"], 1),
                "extra_cpu_us_by_part": _difference(forge, plain),
                "function_calls_per_call": {
                    "forge_db": {k: v for k, v in counted_ours.items() if k != "by_function"},
                    "raw psycopg": {k: v for k, v in counted_raw.items() if k != "by_function"},
                    "run by forge_db only (or more often)": _only_ours(counted_ours, counted_raw),
                },
                "rounds_cpu_us": {k: [r["cpu_us_per_call"] for r in v] for k, v in phases.items()},
            }
        return report
    finally:
        raw.close()
        db.close()


def main(argv: list[str] | None = None) -> int:
    """Profile, print, and save under ``--label`` in the results file (kept across runs)."""
    parser = argparse.ArgumentParser(prog="python -m bench.call_profile", description=__doc__)
    parser.add_argument("--url", help="server to use (default: a fresh embedded PostgreSQL)")
    parser.add_argument("--label", default="after", help="key of this run in the results file")
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "2026-12-01-call-profile.json", help="results file"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="forge-perf-", dir="/tmp") as scratch,
        scratch_database(args.url, "profile") as (url, version),
    ):
        report = run(url, args.calls, args.rounds, Path(scratch))
    save(args.output, args.label, {"server": version, "python": sys.version.split()[0]}, report)
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
