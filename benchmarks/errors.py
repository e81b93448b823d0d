"""User-facing errors: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake the user can fix (unknown name, bad value, missing file)."""


def suggest(name: str, known: Iterable[str]) -> str:
    """Return a ' (did you mean ...?)' hint for a mistyped name, or ''."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
