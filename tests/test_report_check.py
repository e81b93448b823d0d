"""``ddbench report --check``: a regenerated report equal to the committed one passes; any edit is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.errors import UserError
from reports.check import check_reports, first_difference, regenerate, run_check

REPO = Path(__file__).resolve().parents[1]
SUITE = "ld-cross-mnist"  # small: 20 records, one figure


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A copy of one committed suite, its report brought up to the current generator (the committed copy may
    predate a generator change; ``ddbench report --check`` on the real folder is what catches that)."""
    shutil.copytree(REPO / "reports" / SUITE, tmp_path / SUITE)
    regenerate(SUITE, tmp_path, tmp_path / SUITE)
    return tmp_path


def test_untouched_report_passes(root, capsys):
    assert check_reports([SUITE], root) == []
    assert check_reports(None, root) == []  # every committed suite under root
    run_check([], root)
    assert "passed: 1 suite report" in capsys.readouterr().out


def test_edited_leaderboard_line_is_named(root, capsys):
    md = root / SUITE / "leaderboard.md"
    lines = md.read_text().split("\n")
    n = next(i for i, line in enumerate(lines) if line.startswith("| ld"))
    lines[n] = lines[n].replace("| ld", "| ld (edited)", 1)
    md.write_text("\n".join(lines))
    problems = check_reports([SUITE], root)
    assert len(problems) == 1
    assert problems[0].startswith(f"reports/{SUITE}/leaderboard.md: differs") and f"line {n + 1}, column " in problems[0]
    assert "(edited)" in problems[0]
    with pytest.raises(SystemExit) as stop:
        run_check([SUITE], root)
    assert stop.value.code == 1 and "leaderboard.md" in capsys.readouterr().out


def test_binary_missing_and_extra_files_are_reported(root):
    png = next((root / SUITE).glob("*.png"))
    data = bytearray(png.read_bytes())
    data[-20] ^= 0xFF
    png.write_bytes(bytes(data))
    (root / SUITE / "results.csv").unlink()
    (root / SUITE / "old_figure.png").write_bytes(b"\x89PNG")
    problems = check_reports([SUITE], root)
    assert problems == [
        f"reports/{SUITE}/{png.name}: differs from its regeneration, binary content differs "
        f"({len(data)} bytes committed, {len(data)} regenerated)",
        f"reports/{SUITE}/old_figure.png: committed, but the generator no longer writes it",
        f"reports/{SUITE}/results.csv: the generator writes it, but it is not committed",
    ]


@pytest.mark.parametrize(("old", "new", "where"), [
    (b"a\nb\nc", b"a\nB\nc", "line 2, column 1: committed 'b', regenerated 'B'"),
    (b"a\nb", b"a\nb\nc", "line 3: the committed file ends before it; the other has 'c'"),
    (b"x" * 300 + b"1", b"x" * 300 + b"2", "line 1, column 301: committed '..." + "x" * 25 + "1'"),
])
def test_first_difference(old, new, where):
    assert first_difference(old, new).startswith(where)


def test_unknown_suite_is_a_user_error(root):
    with pytest.raises(UserError, match="no committed report for suite 'ld-cros'"):
        check_reports(["ld-cros"], root)
