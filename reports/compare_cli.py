"""``ddbench compare SUITE A B [--by model,optimizer,ipc] [--json] [--records-dir DIR]``: a paired comparison
of two methods or method:loss variants from a suite's stored records (Markdown, or JSON for scripts)."""

from __future__ import annotations

import argparse
import sys

from benchmarks.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand and its arguments."""
    p = subparsers.add_parser("compare", help="compare two methods (or method:loss variants) over the cells they share")
    p.add_argument("suite", help="a suite name (records under reports/<suite>/records) or its TOML path")
    p.add_argument("a", metavar="A", help="a method or method:loss, e.g. rded:gift")
    p.add_argument("b", metavar="B", help="the method or method:loss to compare against, e.g. rded:kl")
    p.add_argument("--by", default="", help="comma-separated columns for one row per group, e.g. model,optimizer,ipc")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--records-dir", default=None, help="default: reports/<suite>/records")


def parse_by(text: str) -> list[str]:
    """``"model, optimizer"`` -> ["model", "optimizer"]; empty parts and repeats are user errors."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if any(not p for p in parts):
        raise UserError(f"--by {text!r}: give comma-separated column names, e.g. model,optimizer,ipc")
    if len(set(parts)) != len(parts):
        raise UserError(f"--by {text!r} names a column twice")
    return parts


def run(args: argparse.Namespace) -> None:
    """Load the suite's records, compare A with B and print the result."""
    from reports.cells import load_cells  # pandas and scipy: only when run
    from reports.compare import compare, to_json, to_markdown

    df = load_cells(args.suite, args.records_dir)
    result = compare(df, args.a, args.b, parse_by(args.by))
    sys.stdout.write(to_json(result) if args.json else to_markdown(result))
