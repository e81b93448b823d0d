"""The report commands (report, leaderboard, compare, figures), registered into ddbench's CLI through the
``ddbench.commands`` entry point, so the harness never imports reports/."""

from __future__ import annotations

import argparse
from importlib import import_module
from pathlib import Path
from typing import Any

from benchmarks.commandline import COMMANDS, Command, command
from benchmarks.commands import suite_dirs
from benchmarks.errors import UserError, suggest
from reports.check import add_check_argument, run_check


def _add_report(sub: Any) -> None:
    rep = sub.add_parser("report", help="write a suite's leaderboard, CSV and figures from its records "
                                        "(or, with --check, verify that committed reports regenerate)")
    rep.add_argument("suite", nargs="*", help="a packaged suite name or a suite TOML path (with --check: any number)")
    rep.add_argument("--records-dir", default=None)
    rep.add_argument("--report-dir", default=None)
    add_check_argument(rep)


def suite_of(name_or_path: str) -> Any:
    """The suite a name or path means, or None for a name that only has records (an ad-hoc suite)."""
    from benchmarks.suite import load_suite, packaged_suites

    if name_or_path in packaged_suites() or name_or_path.endswith(".toml") or Path(name_or_path).is_file():
        return load_suite(name_or_path)
    return None


@command("report", _add_report)
def cmd_report(args: argparse.Namespace) -> None:
    from benchmarks.paths import reports_dir
    from benchmarks.suite import packaged_suites

    names = [args.suite] if isinstance(args.suite, str) else list(args.suite)
    if getattr(args, "check", False):
        return run_check(names, reports_dir())
    if len(names) != 1:
        raise UserError("report takes one SUITE (or --check [SUITE ...])")
    suite = suite_of(names[0])
    name = suite.name if suite is not None else names[0]
    records, report = suite_dirs(name, args.records_dir, args.report_dir)
    if not records.is_dir():
        raise UserError(f"no records for suite {name!r} at {records}{suggest(name, packaged_suites())}: "
                        f"run `ddbench run {names[0]}` first")
    from reports.generate import write_suite_report  # pandas and matplotlib: only when a report is written

    for p in write_suite_report(suite, name, records, report):
        print(f"wrote {p}")


def _lazy(module: str) -> Command:
    """A command whose module (and its pandas / matplotlib imports) loads only when it is declared or run."""
    return Command(lambda sub: import_module(f"reports.{module}").add_parser(sub),
                   lambda args: import_module(f"reports.{module}").run(args))


COMMANDS.register("leaderboard", _lazy("leaderboard_cli"))
COMMANDS.register("compare", _lazy("compare_cli"))
COMMANDS.register("figures", _lazy("figures_cli"))
