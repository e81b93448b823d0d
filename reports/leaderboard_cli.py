"""``ddbench leaderboard [SUITE ...] [--reports-dir DIR]``: write reports/LEADERBOARD.md and reports/site/index.html."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.paths import reports_dir


def add_parser(subparsers: Any) -> None:
    """Add the ``leaderboard`` subcommand to the CLI's subparsers."""
    p = subparsers.add_parser("leaderboard", help="build the cross-suite LEADERBOARD.md and the static site from "
                                                  "every suite's stored records")
    p.add_argument("suites", nargs="*", metavar="SUITE", help="suites to include (default: every suite with records)")
    p.add_argument("--reports-dir", default=None,
                   help="where reports/<suite>/records live and the outputs go (default $DDBENCH_REPORTS or ./reports)")


def run(args: argparse.Namespace) -> None:
    """Build the leaderboard and print the files written."""
    from reports.leaderboard import build_leaderboard

    root = Path(args.reports_dir) if args.reports_dir else reports_dir()
    for path in build_leaderboard(root, list(args.suites) or None, root / "LEADERBOARD.md", root / "site"):
        print(f"wrote {path}")
