"""Progress bars: every long-running command draws one (with an ETA) on a terminal, and none when piped or --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import sys
import termios
from pathlib import Path

import pytest

from benchmarks import progress
from benchmarks.cli import main

BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+ \[\d\d:\d\d<\d\d:\d\d")  # "40%|####  | 8/20 [00:01<00:02, ...": an ETA

SUITE = """
name = "progress-tiny"
[grid]
datasets = ["digits"]
methods = ["random"]
ipc = [2]
models = ["convnet3_w32"]
optimizers = ["adam"]
seeds = [0]
[eval]
steps = 40
batch_size = 20
"""


def on_terminal(argv: list[str], cwd: Path) -> str:
    """Run ``python -m benchmarks ARGV`` on a pseudo-terminal 100 columns wide; everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdout and stderr are the terminal
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        os.chdir(cwd)
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        os.execv(sys.executable, [sys.executable, "-m", "benchmarks", *argv])
    out = bytearray()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out.extend(chunk)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    return text


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    assert main(["distill", "random", "--ipc", "2", "--out", str(out), "--quiet"]) == 0
    return next(out.glob("*.json"))


def commands(artifact: Path, tmp: Path) -> dict[str, list[str]]:
    """The long-running commands, each sized to run in seconds."""
    suite = tmp / "progress-tiny.toml"
    suite.write_text(SUITE)
    return {
        "distill": ["distill", "dm", "--ipc", "1", "--iterations", "5", "--param", "model=convnet3_w32", "--param",
                    "batch_real=8", "--out", str(tmp / "dm")],
        "evaluate": ["evaluate", str(artifact), "--model", "convnet3_w32", "--steps", "60", "--lr-grid", "0.5", "1"],
        "run": ["run", str(suite), "--records-dir", str(tmp / "records"), "--report-dir", str(tmp / "report")],
    }


@pytest.mark.parametrize("name", ["distill", "evaluate", "run"])
def test_long_commands_show_a_bar_with_eta_on_a_terminal(name: str, artifact: Path, tmp_path: Path) -> None:
    text = on_terminal(commands(artifact, tmp_path)[name], tmp_path)
    assert BAR.search(text), text[-2000:]
    if name == "evaluate":
        assert "lr grid" in text and "train convnet3_w32/momentum" in text
    if name == "run":  # the cell's own work is shown under the suite's bar
        assert "progress-tiny" in text and "evaluate random ipc=2: train convnet3_w32/adam" in text
    if name == "distill":
        assert "distill dm ipc=1: iterations" in text


@pytest.mark.parametrize("name", ["distill", "evaluate", "run"])
def test_no_bar_when_piped(name: str, artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(commands(artifact, tmp_path)[name]) == 0
    err = capsys.readouterr().err
    assert not BAR.search(err) and "%|" not in err, err


def test_quiet_silences_a_terminal(artifact: Path, tmp_path: Path) -> None:
    text = on_terminal(["evaluate", str(artifact), "--model", "convnet3_w32", "--steps", "30", "--lr-grid", "0.5", "1",
                        "--quiet"], tmp_path)
    assert "%|" not in text and '"test_acc"' in text


def test_stage_labels_nested_bars() -> None:
    with progress.stage("distill dm ipc=1"):
        assert progress.label("iterations") == "distill dm ipc=1: iterations"
        with progress.stage("inner"):
            assert progress.label("x") == "inner: x"
    assert progress.label("x") == "x"


LINE = re.compile(r"progress-tiny: (\d+)/(\d+) cells, random/convnet3_w32/adam seed (\d): \d+\.\d\d% in \d+ s; "
                  r"\d+ s so far")


def test_a_run_logged_to_a_file_tells_each_cell_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "progress-tiny.toml"
    suite.write_text(SUITE.replace("seeds = [0]", "seeds = [0, 1]"))
    argv = ["run", str(suite), "--records-dir", str(tmp_path / "records"), "--report-dir", str(tmp_path / "report")]
    assert main(argv) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if LINE.search(line)]
    told = [LINE.search(line).groups() for line in lines]  # type: ignore[union-attr]
    assert [t[:2] for t in told] == [("1", "2"), ("2", "2")] and {t[2] for t in told} == {"0", "1"}
    assert "s left" in lines[0] and "left" not in lines[1]  # an estimate while cells remain
    assert main([*argv, "--retry-errors"]) == 0 and not LINE.search(capsys.readouterr().err)  # nothing left to run
    (tmp_path / "records").rename(tmp_path / "old")
    assert main([*argv, "--quiet"]) == 0 and not LINE.search(capsys.readouterr().err)


def test_durations_read_at_a_glance() -> None:
    assert [progress.duration(s) for s in (9.4, 760, 3600 * 3 + 5 * 60 + 20)] == ["9 s", "12 min 40 s", "3 h 05 min"]
