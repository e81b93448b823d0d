"""Progress bars (tqdm, with ETA) for every loop that can take more than a few seconds, behind one switch.

Bars go to stderr and only when stderr is a terminal; ``set_quiet(True)`` (the ``--quiet`` flag) turns
them all off. Where stderr is a file (``nohup``, a batch scheduler's log), a run's cells are told as plain lines
instead (``Tally``), so a log of a multi-day run says how far it is. Loops never take a flag: they call
``bar(...)`` and the switch decides. ``stage(text)``
names the work in progress (``distill dm ipc=10``) so that a loop deep inside a method, which does not
know what it is part of, labels its bar with it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_quiet = False
_stages: list[str] = []


def set_quiet(quiet: bool) -> None:
    """Turn every progress bar off (``True``) or back to the default: on when stderr is a terminal."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    """Whether bars are drawn now: not quiet, and stderr is a terminal (never in pipes, files or CI logs)."""
    return not _quiet and sys.stderr.isatty()


@contextmanager
def stage(text: str) -> Iterator[None]:
    """Label the bars opened inside this block with ``text`` (stages nest: the innermost names them)."""
    _stages.append(text)
    try:
        yield
    finally:
        _stages.pop()


def label(what: str) -> str:
    """``what`` prefixed with the current stage, e.g. ``distill dm ipc=10: iterations``."""
    return f"{_stages[-1]}: {what}" if _stages else what


def bar(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
        outer: bool = False, disable: bool = False) -> Any:
    """A tqdm bar on stderr, disabled unless ``enabled()``. Inner bars (the default) vanish when done and
    stack under any open bar; ``outer`` bars stay; ``disable`` hides this one. ``desc`` gets the stage as prefix."""
    return tqdm(iterable, total=total, desc=label(desc) if desc else (_stages[-1] if _stages else None),
                unit=unit, leave=outer, disable=disable or not enabled(), file=sys.stderr, dynamic_ncols=True)


def write(text: str) -> None:
    """Print a line to stderr without breaking the bars that are open."""
    tqdm.write(text, file=sys.stderr)


def lines() -> bool:
    """Whether progress goes as plain lines: not quiet, and stderr is no terminal (so no bar is drawn)."""
    return not _quiet and not sys.stderr.isatty()


def duration(seconds: float) -> str:
    """``3 h 05 min``, ``12 min 40 s`` or ``9 s``: a log line's time, to the precision a reader needs."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


class Tally:
    """The outer count of a long loop (a run's cells): a bar on a terminal, one line per finished item in a log,
    with the count, the time so far and a linear estimate of the time left (from the items this process did)."""

    def __init__(self, total: int, desc: str, unit: str, show: bool = True) -> None:
        self.bar = bar(total=total, desc=desc, unit=unit, outer=True, disable=not show or not total)
        self.total, self.desc, self.unit, self.show = total, desc, unit, show and total > 0
        self.start, self.done, self.mine = time.monotonic(), 0, 0

    def skipped(self, n: int) -> None:
        """``n`` items done elsewhere (another process stored them): counted, no line, no time."""
        self.done += n
        self.bar.update(n)

    def finished(self, text: str) -> None:
        """One item this process did; ``text`` says which and how it ended."""
        self.done, self.mine = self.done + 1, self.mine + 1
        self.bar.set_postfix_str(text)
        self.bar.update(1)
        if self.show and lines():
            spent = time.monotonic() - self.start
            left = spent / self.mine * (self.total - self.done)
            tail = f", about {duration(left)} left" if self.done < self.total else ""
            print(f"{self.desc}: {self.done}/{self.total} {self.unit}s, {text}; {duration(spent)} so far{tail}",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()
