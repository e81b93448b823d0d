"""The registry of interchange formats and the options their readers and writers take.

A format is a reader (files -> ``DistilledSet``) and a writer (``DistilledSet`` -> files); each names
the options it uses, so that an option a format would silently ignore is refused instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.errors import UserError, suggest
from benchmarks.registry import Registry

NORM_CHOICES = ("auto", "dataset", "published")
SOFT_KINDS = ("auto", "probs", "logits")


@dataclass(frozen=True)
class Options:
    """Everything a reader or writer may be told; each format accepts a subset (``Format.*_options``)."""

    lr: float | None = None  # the learned step size, stored as hints.lr (MTT never saves it)
    soft_labels: Path | None = None  # [N, K] probabilities or logits for an ImageFolder tree
    zca: Path | None = None  # the whitening the tensors went through (mean + matrix), see interop.zca
    resize: bool = False  # ImageFolder: resize images of another size to the dataset's
    norm: str = "auto"  # which mean/std the tensors are normalised with, see interop.normalization
    mean: tuple[float, ...] | None = None  # explicit statistics (override ``norm``)
    std: tuple[float, ...] | None = None
    normalized: bool = True  # False: the tensors hold [0, 1] pixels already
    whitened: bool | None = None  # None: detect; False: skip the detector; True: needs ``zca``
    soft_kind: str = "auto"  # how [N, K] float labels are read: probabilities, logits, or decided per file
    max_clipped: float = 0.25  # largest share of pixel values allowed outside [0, 1] after undoing normalisation


@dataclass
class Written:
    """What a writer produced: its files and facts for the export manifest."""

    files: list[Path]
    info: dict[str, Any] = field(default_factory=dict)


Reader = Callable[[Path, RealData, Options], DistilledSet]
Writer = Callable[[DistilledSet, Path, RealData, Options], Written]


@dataclass(frozen=True)
class Format:
    """One interchange format: what it is, its reader and writer, and the options each uses."""

    description: str
    read: Reader
    write: Writer
    import_options: frozenset[str]
    export_options: frozenset[str]


FORMATS: Registry[Format] = Registry("format")

# Options shared by every format that stores normalised float tensors.
TENSOR_IMPORT = frozenset({"lr", "zca", "norm", "mean", "std", "normalized", "whitened", "soft_kind", "max_clipped"})
TENSOR_EXPORT = frozenset({"zca", "norm", "mean", "std"})


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise UserError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None


def _positive(name: str, value: Any) -> float:
    v = _number(name, value)
    if not v > 0:
        raise UserError(f"{name} must be positive, got {value}")
    return v


def _floats(name: str, value: Any) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise UserError(f"{name} must be a list of numbers, one per channel; got {value!r}")
    return tuple(_number(name, v) for v in value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UserError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _fraction(name: str, value: Any) -> float:
    v = _number(name, value)
    if not 0 <= v <= 1:
        raise UserError(f"{name} must be a fraction in [0, 1], got {value}")
    return v


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{name} must be true or false, got {value!r}")
    return value


_COERCE: dict[str, Callable[[str, Any], Any]] = {
    "lr": _positive,
    "soft_labels": lambda n, v: Path(v),
    "zca": lambda n, v: Path(v),
    "resize": _flag,
    "norm": lambda n, v: _choice(n, v, NORM_CHOICES),
    "mean": _floats,
    "std": lambda n, v: tuple(_positive(n, s) for s in _floats(n, v)),
    "normalized": _flag,
    "whitened": lambda n, v: None if v is None else _flag(n, v),
    "soft_kind": lambda n, v: _choice(n, v, SOFT_KINDS),
    "max_clipped": _fraction,
}


def parse_options(fmt: str, given: Mapping[str, Any], allowed: frozenset[str], action: str) -> Options:
    """Check ``given`` against what format ``fmt`` uses for ``action`` and return typed ``Options``."""
    known = {f.name for f in fields(Options)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r}{suggest(unknown[0], known)}")
    unused = sorted(set(given) - allowed)
    if unused:
        raise UserError(f"{action} format {fmt!r} does not use option {unused[0]!r}; "
                        f"it takes {', '.join(sorted(allowed)) or 'none'}")
    values = {k: _COERCE[k](k, v) for k, v in given.items()}
    if ("mean" in values) != ("std" in values):
        raise UserError("give mean and std together")
    return replace(Options(), **values)
