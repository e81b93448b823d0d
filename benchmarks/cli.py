"""``ddbench``: the command line. Commands are registered in ``COMMANDS``; the harness's own are here, the
report commands come from the ``reports`` package through the ``ddbench.commands`` entry points (so the
harness never imports reports/).

User mistakes end with one line on stderr (``ddbench: error: ...``) and exit code 2, no traceback; an
unexpected failure prints one line and the path of a saved traceback (``--debug`` prints it instead).
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from importlib.metadata import entry_points

import benchmarks
from benchmarks.allocator import keep_freed_memory
from benchmarks.commandline import COMMANDS, Parser
from benchmarks.errors import UserError
from benchmarks.progress import set_quiet

COMMAND_GROUP = "ddbench.commands"


def load_commands() -> None:
    """Register the commands that other packages (reports/) declare through entry points, once."""
    if getattr(load_commands, "done", False):
        return
    load_commands.done = True  # type: ignore[attr-defined]
    import benchmarks.commands  # noqa: F401  (the harness's own commands)

    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        __import__(ep.value)


def chosen_command(argv: list[str] | None) -> str | None:
    """The command ``argv`` names (the first word that is not a top-level flag), or None."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    return words[0] if words else None


def build_parser(argv: list[str] | None = None) -> Parser:
    """The parser; with ``argv`` naming a command, only that command's arguments are declared (the others stay
    names), since declaring one can import heavy modules (timm, pandas, matplotlib) its run never needs."""
    load_commands()
    p = Parser(prog="ddbench", description="Dataset-distillation benchmark suite with labels at its centre.")
    p.add_argument("--version", action="version", version=f"ddbench {benchmarks.__version__}")
    p.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    chosen = chosen_command(argv)
    only = chosen if chosen in COMMANDS else None
    for name, c in COMMANDS.items():
        if only is None or name == only:
            c.add(sub)
        else:
            sub.add_parser(name)  # never parsed: argparse hands the words after a command to its parser only
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


def _compile_cache() -> None:
    """torch.compile's on-disk cache under ddbench's cache dir (unless the user set one): compiled graphs then
    survive /tmp cleaning, and a fresh process finds the graphs an earlier one compiled (~2 s instead of ~30 s
    for ConvNet-3 on a 2-core CPU)."""
    import os

    from benchmarks.paths import cache_dir

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "torchinductor"))


def main(argv: list[str] | None = None) -> int:
    _compile_cache()
    keep_freed_memory()
    args = build_parser(argv).parse_args(argv)
    set_quiet(bool(getattr(args, "quiet", False) or getattr(args, "no_progress", False)))
    try:
        if hasattr(args, "threads"):
            from benchmarks.seeding import pin_runtime

            pin_runtime(args.threads)
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


if __name__ == "__main__":
    raise SystemExit(main())
