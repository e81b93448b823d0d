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
    root = Path(args.reports_dir) if args.reports_dir else reports_dir()
    for path in build_leaderboard(root, list(args.suites) or None, root / "LEADERBOARD.md", root / "site"):
        print(f"wrote {path}")


def build_leaderboard(reports_root: Path, suites: list[str] | None, out_md: Path, out_site: Path) -> list[Path]:
    """Write the cross-suite ``out_md`` and ``out_site/index.html`` from the stored records; returns both paths."""
    from reports.leaderboard import load_suite_data, markdown, select_suites, suite_rows  # pandas: only when run
    from reports.site import render_site

    root = Path(reports_root)
    data = [load_suite_data(name, root) for name in select_suites(suites, root)]
    rows = [row for s in data for row in suite_rows(s)]
    out_md, out_site = Path(out_md), Path(out_site)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_site.mkdir(parents=True, exist_ok=True)
    out_md.write_text(markdown(data, rows, out_md.parent))
    index = out_site / "index.html"
    index.write_text(render_site(data, rows, out_site))
    return [out_md, index]
