"""What every command module shares: the one-line-error parser, the command registry, and flags generated from
the config dataclasses (so a default lives only in its config type)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from benchmarks.errors import UserError
from benchmarks.registry import Registry


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"ddbench: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


@dataclass(frozen=True)
class Command:
    """A subcommand: ``add(subparsers)`` declares it, ``run(args)`` runs it."""

    add: Callable[[Any], None]
    run: Callable[[argparse.Namespace], None]


COMMANDS: Registry[Command] = Registry("command")


def command(name: str, add: Callable[[Any], None]) -> Callable[[Callable[[argparse.Namespace], None]], Any]:
    """Decorator: register ``run`` as the command ``name`` whose arguments ``add`` declares."""

    def wrap(run: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], None]:
        COMMANDS.register(name, Command(add, run))
        return run

    return wrap


def parse_value(text: str) -> Any:
    """JSON for numbers, booleans, lists; otherwise the plain string (never evaluated as code)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs or []:
        if "=" not in p:
            raise UserError(f"{what} {p!r} must look like key=value")
        k, v = p.split("=", 1)
        out[k.strip()] = parse_value(v)
    return out


def finite(text: str) -> float:
    """argparse type: a finite float (nan and inf are refused)."""
    v = float(text)
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def bool_or_auto(text: str) -> bool | str:
    if text in ("auto", "true", "false"):
        return {"auto": "auto", "true": True, "false": False}[text]
    raise argparse.ArgumentTypeError(f"use auto, true or false, not {text!r}")


def add_config_flags(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One ``--flag`` per field of a config dataclass, with its default and help: the config is the one source."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f.metadata.get("help", "") + f" (default: {default!r})"
        if isinstance(default, bool) and f.name != "compile":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif f.name == "compile":
            p.add_argument(flag, type=bool_or_auto, default=default, help=help_text)
        elif isinstance(default, tuple):
            p.add_argument(flag, type=finite, nargs="*", default=list(default), help=help_text)
        elif isinstance(default, float) or f.name == "lr":
            p.add_argument(flag, type=finite, default=default, help=help_text)
        elif isinstance(default, int) or hints[f.name] == int | None:  # e.g. order_seed, epochs
            p.add_argument(flag, type=int, default=default, help=help_text)
        else:
            p.add_argument(flag, default=default, help=help_text)


def config_from_args(cls: type, args: argparse.Namespace, **override: Any) -> Any:
    """Build a config dataclass from the flags ``add_config_flags`` declared."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**{**values, **override})


def common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")
    p.add_argument("--data-root", default=None, help="torchvision-layout datasets (default $DDBENCH_DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, and no per-cell lines where stderr is not a "
                                                        "terminal (there `run` logs each finished cell)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch's CPU thread count, pinned so results repeat bit for bit (default $DDBENCH_THREADS, "
                        "else torch's default); records keep it in provenance")
