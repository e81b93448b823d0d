"""Progress bars (tqdm, with ETA) for every loop that can take more than a few seconds, behind one switch.

Bars go to stderr and only when stderr is a terminal; ``set_quiet(True)`` (the ``--quiet`` flag) turns
them all off. Loops never take a flag: they call ``bar(...)`` and the switch decides. ``stage(text)``
names the work in progress (``distill dm ipc=10``) so that a loop deep inside a method, which does not
know what it is part of, labels its bar with it.
"""

from __future__ import annotations

import sys
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
