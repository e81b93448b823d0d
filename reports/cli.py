"""The report commands, registered into ddbench's CLI through the ``ddbench.commands`` entry point."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.cli import command
from benchmarks.commands import suite_dirs
from benchmarks.errors import UserError, suggest


def _add_report(sub: Any) -> None:
    rep = sub.add_parser("report", help="write a suite's leaderboard, CSV and figures from its records")
    rep.add_argument("suite", help="a packaged suite name or a suite TOML path")
    rep.add_argument("--records-dir", default=None)
    rep.add_argument("--report-dir", default=None)


def suite_of(name_or_path: str) -> Any:
    """The suite a name or path means, or None for a name that only has records (an ad-hoc suite)."""
    from benchmarks.suite import load_suite, packaged_suites

    if name_or_path in packaged_suites() or name_or_path.endswith(".toml") or Path(name_or_path).is_file():
        return load_suite(name_or_path)
    return None


@command("report", _add_report)
def cmd_report(args: argparse.Namespace) -> None:
    from benchmarks.suite import packaged_suites
    from reports.generate import write_report

    suite = suite_of(args.suite)
    name = suite.name if suite is not None else args.suite
    records, report = suite_dirs(name, args.records_dir, args.report_dir)
    if not records.is_dir():
        raise UserError(f"no records for suite {name!r} at {records}{suggest(name, packaged_suites())}: "
                        f"run `ddbench run {args.suite}` first")
    cells = None if suite is None else [c.config for c in suite.cells()]
    for p in write_report(name, records, report, cells, None if suite is None else suite.published):
        print(f"wrote {p}")
