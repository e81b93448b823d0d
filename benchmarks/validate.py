"""Checks at the boundaries where user input enters: the one safe-name rule (names that become file or
folder names) and type checks driven by declared types (config dataclass fields, registered defaults)."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from typing import Any

from benchmarks.errors import UserError

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def safe_name(value: Any, what: str) -> str:
    """``value`` if it can be used as one file or folder name (letters, digits, . _ -; at most 100), else UserError."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value) or ".." in value:
        raise UserError(f"{what} {value!r} is not a safe name: use 1-100 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit (it becomes a folder or file name)")
    return value


def _matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` (a JSON/TOML value) fits the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if tp is type(None) or tp is None:
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if origin in (tuple, list):
        item = typing.get_args(tp)[0] if typing.get_args(tp) else Any
        return isinstance(value, (tuple, list)) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, tp)


_NAMES = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string", type(None): "none",
          dict: "a table"}


def describe(tp: Any) -> str:
    """A reader's name for an annotation: 'an integer', 'a string or none', ..."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return "a list of " + describe(typing.get_args(tp)[0]).split(" ", 1)[-1] + "s"
    return _NAMES.get(origin or tp, getattr(tp, "__name__", str(tp)))


def check_value(name: str, value: Any, tp: Any, what: str) -> None:
    """UserError unless ``value`` fits ``tp``."""
    if not _matches(value, tp):
        raise UserError(f"{what}: {name} must be {describe(tp)}, got {value!r}")


def check_fields(obj: Any, what: str) -> None:
    """Type-check every field of a config dataclass instance against its annotation."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        check_value(f.name, getattr(obj, f.name), hints[f.name], what)


def type_of_default(default: Any) -> Any:
    """The type a parameter's registered default stands for (an int default also accepts nothing but ints;
    a float default accepts ints; a None default accepts anything)."""
    if default is None:
        return Any
    if isinstance(default, float):
        return float
    if isinstance(default, (list, tuple)):
        return list
    return type(default)


def check_params(given: dict[str, Any], defaults: dict[str, Any], what: str) -> None:
    """Type-check parameters against the types of their registered defaults."""
    for k, v in given.items():
        tp = type_of_default(defaults.get(k))
        if tp is list:
            ok = isinstance(v, (list, tuple))
        else:
            ok = _matches(v, tp)
        if not ok:
            raise UserError(f"{what}: parameter {k} must be {describe(tp) if tp is not list else 'a list'} "
                            f"(like its default {defaults[k]!r}), got {v!r}")
