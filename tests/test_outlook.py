"""`ddbench run --dry-run`: what a run has left, by architecture, with hours only where stored cells give a basis."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.outlook import estimate, render
from benchmarks.spec import Cell, EvalConfig


def stored(model: str, method: str, wall: float, distill: float = 0.0, status: str = "ok") -> dict:
    return {"status": status, "cost": {"wall_s": wall, "distill_wall_s": distill},
            "config": {"dataset": "digits", "method": method, "params": {}, "ipc": 10, "iterations": None,
                       "eval": {"model": model}}}


def cell(model: str, method: str, seed: int = 0) -> Cell:
    return Cell("digits", method, {}, 10, EvalConfig(model=model, seed=seed), seed=seed)


def test_cells_are_estimated_from_their_own_method_else_the_architectures_other_methods_but_never_full() -> None:
    records = [stored("convnet3", "random", 100.0), stored("convnet3", "random", 120.0), stored("convnet3", "dm", 300.0),
               stored("convnet3", "full", 1000.0), stored("lenet", "dm", 10.0, distill=50.0),
               stored("lenet", "random", 99999.0, status="error")]
    todo = [cell("convnet3", "random"), cell("convnet3", "herding"), cell("convnet3", "full"), cell("lenet", "full"),
            cell("lenet", "dm", 1), cell("resnet18", "random")]
    out = estimate(todo, records, cached=lambda c: c.method != "dm")
    rows = {r.model: r for r in out["rows"]}
    assert rows["convnet3"].cells == 3 and rows["convnet3"].estimated == 3
    assert rows["convnet3"].seconds == pytest.approx(110.0 + 120.0 + 1000.0)  # random: 100/120; herding: 100/120/300
    assert rows["lenet"].estimated == 1 and rows["lenet"].seconds == 10.0  # full has no basis there; the error counts not
    assert rows["resnet18"].estimated == 0 and rows["resnet18"].basis == "nothing of this architecture stored"
    assert [r.model for r in out["rows"]] == ["convnet3", "lenet", "resnet18"]  # largest first, unestimated last
    assert (out["artifacts"], out["artifacts_estimated"], out["distill_seconds"]) == (1, 1, 50.0)  # lenet dm seed 1
    text = render("s", 10, 4, 0, out, tunes=True)
    assert "6 to run" in text and "for the 4 cells estimated" in text and "2 cells have nothing comparable" in text
    assert "searches" in text and "searches" not in render("s", 10, 4, 0, out, tunes=False)


SUITE = """
name = "dry-tiny"
[grid]
datasets = ["digits"]
methods = ["random", "herding"]
ipc = [2]
models = ["convnet3_w32"]
optimizers = ["adam"]
seeds = [0, 1]
[eval]
steps = 20
batch_size = 20
"""


def test_a_dry_run_runs_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "dry-tiny.toml"
    suite.write_text(SUITE)
    records = tmp_path / "records"
    assert main(["run", str(suite), "--records-dir", str(records), "--report-dir", str(tmp_path / "r"), "--dry-run",
                 "--methods", "random"]) == 0
    out = capsys.readouterr().out
    assert "dry-tiny: 4 cells, 0 stored, 2 to run (2 more left out" in out and "convnet3_w32" in out
    assert not records.exists() or not any(records.iterdir())
    assert not (tmp_path / "r").exists()
