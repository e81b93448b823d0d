"""`ddbench figures`: every figure format is deterministic, tables come as LaTeX, and the figures stay legible."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reports import figures
from reports.figures_cli import write_paper

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quick")
    shutil.copytree(REPO / "reports" / "quick" / "records", root / "records")
    return root / "records"


@pytest.mark.parametrize("fmt", ["pdf", "svg", "png"])
def test_figures_are_byte_identical_across_runs(quick_records: Path, tmp_path: Path, fmt: str) -> None:
    first = write_paper(quick_records, tmp_path / "a", fmt, latex=fmt == "pdf")
    second = write_paper(quick_records, tmp_path / "b", fmt, latex=fmt == "pdf")
    names = {p.name for p in first}
    assert {f"fig_accuracy_digits.{fmt}", f"fig_ipc_digits.{fmt}", f"fig_heatmap_model_digits.{fmt}",
            f"fig_by_optimizer_digits.{fmt}", f"fig_by_loss_digits.{fmt}"} <= names
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    blob = b"".join(p.read_bytes() for p in first if p.suffix == f".{fmt}")
    assert b"CreationDate" not in blob and b"<dc:date>" not in blob and b"Matplotlib version" not in blob
    if fmt == "pdf":
        tex = (tmp_path / "a" / "table_optimizer_digits.tex").read_text()
        assert r"\toprule" in tex and r"\mathbf{" in tex and r"\pm" in tex and "adamw" in tex
        assert {"table_digits.tex", "table_model_digits.tex", "table_loss_digits.tex"} <= names


def test_every_method_has_its_own_look_and_keeps_it() -> None:
    methods = list(figures.METHOD_ORDER)
    looks = [tuple(figures.method_style(m).values()) for m in methods]
    assert len(set(looks)) == len(looks)
    colour_and_hatch = {(s["color"], s["hatch"]) for s in map(figures.method_style, methods)}
    assert len(colour_and_hatch) == len(methods)  # bars (colour + pattern) tell every known method apart
    assert figures.method_style("my_new_method") == figures.method_style("my_new_method")


def test_cli_rejects_an_unknown_format(quick_records: Path, tmp_path: Path) -> None:
    from benchmarks.cli import main

    assert main(["figures", "quick", "--records-dir", str(quick_records), "--out", str(tmp_path), "--format",
                 "png", "--no-latex"]) == 0
    assert not list(tmp_path.glob("*.tex")) and (tmp_path / "fig_accuracy_digits.png").exists()
    with pytest.raises(SystemExit):
        main(["figures", "quick", "--format", "jpeg"])
