"""SIGTERM and SIGHUP end a write the way Ctrl-C does: through the normal cleanup.

Their default action kills the process on the spot, leaving a half-written temp file
(``.rows.parquet.XXXX``) behind. While a ``SignalGuard`` is active (the life of a temp file),
they raise ``Terminated`` in the main thread instead, so every ``except BaseException`` /
``finally`` on the way out removes what it started to write; the exit status is then
128 + the signal number, as a shell reports a death by that signal, after one line on stderr.
A handler the program already installed (or an ignored signal, as under ``nohup``) is left
alone, and the previous handlers come back when the guard ends.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(SystemExit):
    """A termination signal arrived while ``ce`` was writing; ``code`` is 128 + signal."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    os.write(2, f"ce: terminated by {name}\n".encode())
    raise Terminated(128 + signum)


class SignalGuard:
    """Within ``with SignalGuard():`` (or between ``install()`` and ``restore()``),
    SIGTERM/SIGHUP raise ``Terminated``. Nested guards are no-ops; off the main thread
    (where Python cannot set handlers) the guard does nothing."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}

    def install(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in SIGNALS:
            if signal.getsignal(sig) is signal.SIG_DFL:
                self.previous[sig] = signal.signal(sig, _terminate)
        return self

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def __enter__(self) -> SignalGuard:
        return self.install()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()
