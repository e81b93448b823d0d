"""``ddbench``: the command line. Commands are registered in ``COMMANDS``; the harness's own are here, the
report commands come from the ``reports`` package through the ``ddbench.commands`` entry points (so the
harness never imports reports/).

User mistakes end with one line on stderr (``ddbench: error: ...``) and exit code 2, no traceback; an
unexpected failure prints one line and the path of a saved traceback (``--debug`` prints it instead).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NoReturn

import benchmarks
from benchmarks.errors import UserError
from benchmarks.registry import Registry

COMMAND_GROUP = "ddbench.commands"


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
        elif isinstance(default, int) or f.name == "order_seed":
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


def load_commands() -> None:
    """Register the commands that other packages (reports/) declare through entry points, once."""
    if getattr(load_commands, "done", False):
        return
    load_commands.done = True  # type: ignore[attr-defined]
    import benchmarks.commands  # noqa: F401  (the harness's own commands)

    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        __import__(ep.value)


def build_parser() -> Parser:
    load_commands()
    p = Parser(prog="ddbench", description="Dataset-distillation benchmark suite with labels at its centre.")
    p.add_argument("--version", action="version", version=f"ddbench {benchmarks.__version__}")
    p.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    for _, c in COMMANDS.items():
        c.add(sub)
    return p


def _unexpected(e: BaseException, debug: bool) -> int:
    text = "".join(traceback.format_exception(e))
    if debug:
        sys.stderr.write(text)
    else:
        with tempfile.NamedTemporaryFile("w", prefix="ddbench-traceback-", suffix=".txt", delete=False) as f:
            f.write(text)
        sys.stderr.write(f"ddbench: internal error: {type(e).__name__}: {e} (traceback saved to {f.name}; "
                         "please report it)\n")
    return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS.get(args.cmd).run(args)
    except UserError as e:
        sys.stderr.write(f"ddbench: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", "nothing was saved")
        sys.stderr.write(f"ddbench: interrupted; {hint}\n")
        return 130
    except Exception as e:  # noqa: BLE001  (one line for the user, the traceback in a file)
        return _unexpected(e, args.debug)
    return 0


def resolve_path_arg(path: str | None, default: Path) -> Path:
    return Path(path) if path else default


if __name__ == "__main__":
    raise SystemExit(main())
