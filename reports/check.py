"""``ddbench report --check``: regenerate committed suite reports into a temporary folder and compare them.

A committed report must be a pure function of its committed records; any file that differs byte for byte,
that the generator no longer writes, or that it writes but is not committed, is a problem.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.errors import UserError, suggest

PREVIEW_CHARS = 100  # how much of a differing line a problem quotes


def committed_suites(reports_root: Path) -> list[str]:
    """Names of the suite reports under ``reports_root``: folders holding both records/ and leaderboard.md."""
    return sorted(p.name for p in Path(reports_root).iterdir()
                  if (p / "records").is_dir() and (p / "leaderboard.md").is_file())


def report_files(folder: Path) -> dict[str, Path]:
    """The report's own files (top level only: records/ and artifacts/ are inputs, not outputs)."""
    return {p.name: p for p in sorted(Path(folder).iterdir()) if p.is_file()}


def _text(data: bytes) -> list[str] | None:
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None


def _excerpt(line: str, start: int) -> str:
    """``line`` from ``start`` on, clipped, with an ellipsis where something was cut."""
    cut = line[start:start + PREVIEW_CHARS]
    return repr(("..." if start else "") + cut + ("..." if start + PREVIEW_CHARS < len(line) else ""))


def first_difference(committed: bytes, regenerated: bytes) -> str:
    """Where two versions of a file first differ: line, column and both excerpts for text; a note for binary."""
    old, new = _text(committed), _text(regenerated)
    if old is None or new is None:
        return f"binary content differs ({len(committed)} bytes committed, {len(regenerated)} regenerated)"
    for i, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            col = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            start = max(0, col - PREVIEW_CHARS // 4)
            return f"line {i}, column {col + 1}: committed {_excerpt(a, start)}, regenerated {_excerpt(b, start)}"
    i = min(len(old), len(new)) + 1
    shorter, longer = ("committed", new) if len(old) < len(new) else ("regenerated", old)
    return f"line {i}: the {shorter} file ends before it; the other has {_excerpt(longer[i - 1], 0)}"


def compare_folders(suite: str, committed: Path, regenerated: Path) -> list[str]:
    """Problems between a committed report folder and a freshly regenerated one, one line each."""
    old, new = report_files(committed), report_files(regenerated)
    problems = []
    for name in sorted(old.keys() | new.keys()):
        where = f"reports/{suite}/{name}"
        if name not in new:
            problems.append(f"{where}: committed, but the generator no longer writes it")
        elif name not in old:
            problems.append(f"{where}: the generator writes it, but it is not committed")
        elif old[name].read_bytes() != new[name].read_bytes():
            problems.append(f"{where}: differs from its regeneration, {first_difference(old[name].read_bytes(), new[name].read_bytes())}")
    return problems


def regenerate(suite: str, reports_root: Path, out_dir: Path) -> None:
    """Write ``suite``'s report from its committed records into ``out_dir``, as ``ddbench report`` does."""
    from benchmarks.suite import load_suite, packaged_suites
    from reports.generate import write_suite_report

    spec = load_suite(suite) if suite in packaged_suites() else None
    write_suite_report(spec, suite, Path(reports_root) / suite / "records", out_dir)


def check_reports(suites: list[str] | None, reports_root: Path) -> list[str]:
    """Regenerate each named (default: every committed) suite report and list every difference, one line each."""
    root = Path(reports_root)
    if not root.is_dir():
        raise UserError(f"no reports folder at {root}")
    known = committed_suites(root)
    for name in suites or []:
        if name not in known:
            raise UserError(f"no committed report for suite {name!r} under {root}{suggest(name, known)}")
    problems: list[str] = []
    for name in suites or known:
        with tempfile.TemporaryDirectory(prefix=f"ddbench-check-{name}-") as tmp:
            regenerate(name, root, Path(tmp))
            problems += compare_folders(name, root / name, Path(tmp))
    return problems


def add_check_argument(report_parser: argparse.ArgumentParser) -> None:
    """Give ``ddbench report`` its ``--check`` flag (the suite positional must then accept zero or more names)."""
    report_parser.add_argument("--check", action="store_true",
                               help="regenerate the named (default: all) committed reports in a temporary folder and "
                                    "fail, naming the file and first differing line, where a committed file differs")


def run_check(suites: list[str], reports_root: Path) -> None:
    """CLI body of ``ddbench report --check``: print each problem; exit with status 1 when there is any."""
    problems = check_reports(suites or None, reports_root)
    names = suites or committed_suites(reports_root)
    for line in problems:
        print(line)
    if problems:
        print(f"report check failed: {len(problems)} problem(s) in {len(names)} suite report(s) checked")
        raise SystemExit(1)
    print(f"report check passed: {len(names)} suite report(s) regenerate byte for byte")
