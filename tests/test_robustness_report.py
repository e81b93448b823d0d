"""The robustness report: the corruption error against the full-data row (by hand on three rows), the table's
columns and missing references, and the two figures, on hand-made records."""

from __future__ import annotations

from typing import Any

import pytest

from reports.frame import to_frame
from reports.generate import leaderboard
from reports.robustness import corruption_errors, panel_frame, robustness_section, robustness_table
from reports.robustness_figures import attack_long, corruption_long, robustness_figures
from tests.synthetic_records import record


def with_panel(rec: dict[str, Any], corr: dict[str, float], attacks: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A record carrying a panel as ``benchmarks.evaluator`` stores it (clean = the record's test accuracy)."""
    clean = rec["metrics"]["test_acc"]
    summary = {"clean_acc": clean, "mean_corruption_acc": sum(corr.values()) / len(corr),
               **{f"{a}@{e}": v for a, by in attacks.items() for e, v in by.items()}}
    rec["metrics"]["robustness"] = {"clean_acc": clean, "corruption_acc": corr, "attack_clean_acc": clean,
                                    "attack_acc": attacks, "summary": summary}
    return rec


ATT = {"fgsm": {"0.1": 60.0, "0.3": 10.0}, "pgd": {"0.1": 50.0, "0.3": 0.0}}


def rows() -> list[dict[str, Any]]:
    return [
        with_panel(record("full", 98.0, ipc=None), {"blur": 96.0, "noise": 90.0}, ATT),
        with_panel(record("random", 90.0), {"blur": 80.0, "noise": 70.0}, ATT),
        with_panel(record("dm", 94.0), {"blur": 84.0, "noise": 82.0}, ATT),
        with_panel(record("dm", 92.0, seed=1), {"blur": 86.0, "noise": 78.0}, ATT),
    ]


def test_corruption_error_equals_a_hand_computation():
    errors = corruption_errors(panel_frame(rows(), "digits")).set_index("method")
    # full: clean error 0.02, blur 0.04, noise 0.10. dm (mean of two runs): clean 0.07, blur 0.15, noise 0.20.
    assert errors.loc["dm", "mce"] == pytest.approx(100 * (0.15 / 0.04 + 0.20 / 0.10) / 2)
    assert errors.loc["dm", "rel_mce"] == pytest.approx(100 * ((0.15 - 0.07) + (0.20 - 0.07)) / ((0.04 - 0.02) + (0.10 - 0.02)))
    assert errors.loc["random", "mce"] == pytest.approx(100 * (0.20 / 0.04 + 0.30 / 0.10) / 2)
    assert "full" not in errors.index and (errors["missing"] == "").all()


def test_a_full_row_under_another_protocol_is_refused_and_named():
    recs = rows()
    recs[0] = with_panel(record("full", 98.0, ipc=None, steps=500), {"blur": 96.0, "noise": 90.0}, ATT)
    errors = corruption_errors(panel_frame(recs, "digits"))
    assert errors["mce"].isna().all() and errors["missing"].str.contains("steps_cfg 500").all()
    _, _, notes = robustness_table(recs, "digits")
    assert any("full-data row" in n for n in notes)


def test_the_table_has_every_column_and_the_scores():
    table, headers, notes = robustness_table(rows(), "digits")
    assert headers[:2] == ["method", "ipc"] and {"mCE", "rel. mCE", "fgsm@0.1", "pgd@0.3", "IOR", "HLR", "LRS",
                                                  "worst model", "worst optimizer"} <= set(headers)
    by = {r[0]: dict(zip(headers, r, strict=True)) for r in table}
    assert by["full"]["mCE"] == "ref" and by["dm"]["n"] == "2" and by["dm"]["clean"] == "93.00"
    assert by["dm"]["mean corr."] == "82.50"
    assert float(by["dm"]["IOR"]) == pytest.approx(0.93 - 0.90) and float(by["dm"]["HLR"]) == pytest.approx(0.98 - 0.93)
    assert by["random"]["IOR"] == "0.000"


def test_losses_are_separate_rows_not_averaged():
    recs = [*rows(), with_panel(record("rded", 91.0, loss="gift", label_kind="online"), {"blur": 85.0, "noise": 80.0}, ATT),
            with_panel(record("rded", 85.0, loss="kl", label_kind="online"), {"blur": 75.0, "noise": 70.0}, ATT)]
    table, headers, _ = robustness_table(recs, "digits")
    rded = [dict(zip(headers, r, strict=True)) for r in table if r[0] == "rded"]
    assert sorted(r["clean"] for r in rded) == ["85.00", "91.00"] and "loss" in headers


def test_no_panel_no_section_and_the_leaderboard_links_both_figures(tmp_path):
    assert robustness_section([record("dm", 90.0)], "digits") == [] and robustness_figures([], "digits") == []
    recs = rows()
    figures = robustness_figures(recs, "digits")
    assert [stem for stem, _ in figures] == ["fig_corruptions_digits", "fig_attacks_digits"]
    for stem, draw in figures:
        draw(tmp_path / f"{stem}.png")
        assert (tmp_path / f"{stem}.png").stat().st_size > 10_000
    md = leaderboard(to_frame(recs), recs, "synth")
    assert "](fig_corruptions_digits.png)" in md and "](fig_attacks_digits.png)" in md and "rel. mCE" in md


def test_the_heatmap_and_curves_read_the_panel():
    long = corruption_long(panel_frame(rows(), "digits"))
    dm = long[(long.method == "dm") & (long.corruption == "noise")]["test_acc"]
    assert sorted(dm) == [78.0, 82.0] and set(long["corruption"]) == {"clean", "blur", "noise"}
    curves = attack_long(panel_frame(rows(), "digits"))
    assert set(curves[curves.eps == 0.0]["acc"]) == {98.0, 90.0, 94.0, 92.0}  # epsilon 0: the subset clean
    assert sorted(curves["eps"].unique()) == [0.0, 0.1, 0.3]
