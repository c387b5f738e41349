"""A client-side deadline for statements, for when the server cannot enforce its own.

``statement_timeout`` is a timer inside the backend: a backend that is frozen (stopped, swapped
out, its host paused) or a network that silently drops packets never fires it, and the caller
blocks for as long as the kernel keeps the socket open (hours). The deadline is the client's
own limit on one statement:

1. at the deadline, the watchdog asks the server to cancel the statement (a live but slow
   backend then answers ``QueryCanceled`` and its connection stays usable);
2. if no answer has come ``grace`` seconds later, it shuts the connection's socket down, which
   wakes the waiting call (sync or async) with a lost-connection error; the pool then discards
   that connection.

Either way the call raises :class:`~forge_db.errors.Unavailable` naming the deadline.

One daemon thread serves the whole process. Arming costs a clock read and a dict insert, so a
call pays under a microsecond for it; the thread wakes every ``TICK`` seconds and only does
work for statements past their deadline, which is why a deadline fires up to ``TICK`` late.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any, Final

import psycopg

from .errors import Unavailable

__all__ = ["TICK", "Call", "arm", "disarm", "exceeded", "grace_for"]

TICK: Final = 0.05
"""Seconds between two looks of the watchdog at the running statements."""


def grace_for(deadline: float) -> float:
    """Seconds between the cancel request and closing the socket, for ``deadline``."""
    return min(1.0, max(0.1, deadline / 4))


class Call:
    """A statement past its deadline, which the watchdog now owns."""

    __slots__ = ("conn", "deadline", "done", "due", "stage")

    def __init__(self, conn: psycopg.BaseConnection[Any], deadline: float, due: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.due = due  # when the grace period ends
        self.stage = 1  # 1: cancel requested; 2: socket shut down
        self.done = False


# Armed statements, by connection (one runs one statement at a time): (due, deadline, conn).
# Whoever pops an entry first owns it: the caller (it returned in time, and that costs it no
# lock) or the watchdog, which moves it to _fired under _acting; a caller that finds its entry
# gone takes _acting too. So the watchdog never acts on a connection back in the pool.
_calls: dict[int, tuple[float, float, psycopg.BaseConnection[Any]]] = {}
_fired: dict[int, Call] = {}
_acting = threading.Lock()
_started = False


def arm(conn: psycopg.BaseConnection[Any], deadline: float) -> None:
    """Watch the statement about to run on ``conn``; :func:`disarm` when it returns."""
    _calls[id(conn)] = (time.monotonic() + deadline, deadline, conn)
    if not _started:
        _start()


def disarm(conn: psycopg.BaseConnection[Any]) -> Call | None:
    """Stop watching ``conn``'s statement; the fired call if its deadline passed, else None.

    A connection whose deadline fired must be closed, not reused: the cancel request may
    reach its backend late and would then cancel the next caller's statement.
    """
    if _calls.pop(id(conn), None) is not None:
        return None
    with _acting:
        call = _fired.pop(id(conn), None)
        if call is not None:
            call.done = True
        return call


def exceeded(call: Call, target: str) -> Unavailable:
    """The error of a statement that ran past its deadline."""
    where = f" ({target})" if target else ""
    how = (
        "the server did not answer the cancel request, so the connection was closed"
        if call.stage > 1
        else "it was cancelled"
    )
    return Unavailable(f"no answer within the {call.deadline:g} s deadline{where}: {how}")


def _start() -> None:
    global _started
    with _acting:
        if not _started:
            threading.Thread(target=_watch, name="forge_db-deadline", daemon=True).start()
            _started = True


def _watch() -> None:
    while True:
        time.sleep(TICK)
        if not _calls and not _fired:
            continue
        now = time.monotonic()
        # dict.copy() is one C call under the GIL: arming threads cannot break the iteration.
        for key, (due, deadline, conn) in _calls.copy().items():
            if now < due:
                continue
            with _acting:
                if _calls.pop(key, None) is None:
                    continue  # its caller disarmed it just now
                _fired[key] = Call(conn, deadline, now + grace_for(deadline))
                # Taken under the lock: the caller cannot close the connection meanwhile.
                cancel = _cancel_handle(conn)
            if cancel is not None:
                # A cancel request opens a connection of its own, which a partitioned network
                # can hold up: not in this thread, which serves every deadline.
                threading.Thread(target=_cancel, args=(cancel,), daemon=True).start()
        for call in _fired.copy().values():
            if call.stage > 1 or now < call.due:
                continue
            with _acting:
                if call.done:
                    continue
                call.stage = 2
                _shut(call.conn)


def _cancel_handle(conn: psycopg.BaseConnection[Any]) -> Any:
    try:
        return conn.pgconn.get_cancel()
    except Exception:  # closed already: nothing to cancel
        return None


def _cancel(cancel: Any) -> None:
    with contextlib.suppress(Exception):
        cancel.cancel()


def _shut(conn: psycopg.BaseConnection[Any]) -> None:
    # shutdown() on a duplicate of the descriptor ends the connection for every descriptor of
    # it, and wakes the thread or event loop waiting on the original one; close() would not.
    with contextlib.suppress(Exception):
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
