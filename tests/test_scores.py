"""The field's relative scores (HLR, IOR, LRS, ARS) and the sensitivity summaries, on hand-made and committed records."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_records import record

from reports.cells import cell_frame, load_cells
from reports.scores import ars, is_hard_label, lrs, relative_scores, scores_markdown, squash, summarise_scores
from reports.sensitivity import cross_axis, lr_sensitivity, seed_ci, steps_sensitivity

REPO = Path(__file__).resolve().parents[1]


def _lrs_by_hand(full: float, rand: float, hard: float, syn: float) -> float:
    hlr, ior = full - hard, syn - rand
    a = 0.5 * ior - 0.5 * hlr
    return (math.exp(a) - math.exp(-1)) / (math.exp(1) - math.exp(-1))


def _row(scores, method, **match):
    rows = scores[scores["method"] == method]
    for k, v in match.items():
        rows = rows[rows[k] == v]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_lrs_equals_a_hand_computation_on_three_rows():
    recs = [record("full", 99.0, ipc=None), record("random", 80.0), record("herding", 90.0)]
    s = _row(relative_scores(cell_frame(recs)), "herding")
    assert s["hlr"] == pytest.approx(0.09) and s["ior"] == pytest.approx(0.10)
    assert s["lrs"] == pytest.approx(_lrs_by_hand(0.99, 0.80, 0.90, 0.90))
    assert 0.0 <= s["lrs"] <= 1.0 and s["missing"] == ""


def test_lrs_and_ars_lie_in_the_unit_interval():
    assert lrs(1.0, -1.0) == pytest.approx(1.0) and lrs(-1.0, 1.0) == pytest.approx(0.0)
    assert squash(0.0) == pytest.approx((1 - math.exp(-1)) / (math.e - math.exp(-1)))
    grid = np.linspace(-1.0, 1.0, 21)
    assert all(0.0 <= lrs(i, h) <= 1.0 for i in grid for h in grid)
    assert all(0.0 <= ars(g, p) <= 1.0 for g in grid for p in grid)
    # DD-Ranking 0.2.0 fed percentage points: the same gains in points leave [0, 1]
    assert lrs(10.0, 2.0) > 1.0 and 0.0 <= lrs(0.10, 0.02) <= 1.0


def test_random_with_other_steps_is_refused_as_a_reference():
    recs = [record("full", 99.0, ipc=None), record("random", 80.0, steps=300), record("herding", 90.0)]
    s = _row(relative_scores(cell_frame(recs)), "herding")
    assert pd.isna(s["ior"]) and pd.isna(s["lrs"]) and s["hlr"] == pytest.approx(0.09)
    assert "IOR needs `random`" in s["missing"] and "steps_cfg 300 (this row: 200)" in s["missing"]


def test_a_reference_differing_in_two_fields_is_one_note():
    recs = [record("full", 99.0, ipc=None), record("random", 80.0, steps=300, optimizer="sgd"), record("herding", 90.0)]
    text = scores_markdown(relative_scores(cell_frame(recs))).split("Missing references:")[1]
    notes = [n for n in text.strip().splitlines() if "IOR" in n]  # herding's; random's own HLR note is the other line
    assert len(notes) == 1 and "optimizer sgd (this row: adam), steps_cfg 300 (this row: 200))" in notes[0], notes


def test_other_protocol_differences_are_refused_too():
    recs = [record("full", 99.0, ipc=None, optimizer="sgd"), record("random", 80.0, loss="gift"),
            record("random", 70.0, ipc=1), record("herding", 90.0)]
    s = _row(relative_scores(cell_frame(recs)), "herding")
    assert pd.isna(s["hlr"]) and pd.isna(s["ior"])
    assert "optimizer sgd (this row: adam)" in s["missing"]
    assert "use only loss gift(alpha=0.1,w=0.1), which does not qualify" in s["missing"]


def test_soft_and_online_sets_take_their_hard_label_row_from_ce():
    assert is_hard_label("hard", "soft_ce") and is_hard_label("online", "ce(label_smoothing=0.0)")
    assert not is_hard_label("online", "soft_ce") and not is_hard_label("soft", "kl(T=1.0,t2=False)")
    recs = [record("full", 98.0, ipc=None, loss="soft_ce"), record("random", 70.0, loss="soft_ce"),
            record("rded", 85.0, loss="kl", label_kind="online"), record("rded", 75.0, loss="ce", label_kind="online"),
            record("ld", 88.0, loss="kl", label_kind="soft")]
    scores = relative_scores(cell_frame(recs))
    kl = _row(scores, "rded", loss="kl(T=1.0,t2=False)")
    assert kl["hard_acc"] == pytest.approx(0.75) and kl["hlr"] == pytest.approx(0.23)
    assert kl["ior"] == pytest.approx(0.15) and kl["lrs"] == pytest.approx(_lrs_by_hand(0.98, 0.70, 0.75, 0.85))
    ld = _row(scores, "ld")
    assert pd.isna(ld["hlr"]) and "HLR needs ld with hard labels" in ld["missing"] and ld["ior"] == pytest.approx(0.18)
    assert "rded" in scores_markdown(scores) and "Missing references" in scores_markdown(scores)


def test_ars_from_the_augmentation_axis():
    recs = [record("full", 99.0, ipc=None, augment=a) for a in ("none", "dsa")]
    recs += [record("random", 80.0, augment="none"), record("random", 84.0, augment="dsa"),
             record("dc", 88.0, augment="none"), record("dc", 95.0, augment="dsa")]
    scores = relative_scores(cell_frame(recs))
    dsa = _row(scores, "dc", augment="dsa")
    b = 0.5 * (0.95 - 0.84) + 0.5 * (0.88 - 0.80)
    assert dsa["ars"] == pytest.approx((math.exp(b) - math.exp(-1)) / (math.e - math.exp(-1)))
    assert pd.isna(_row(scores, "dc", augment="none")["ars"])


def test_scores_on_committed_records():
    quick = relative_scores(load_cells("quick", str(REPO / "reports" / "quick" / "records")))
    herding = quick[(quick["method"] == "herding") & quick["lrs"].notna()]
    assert len(herding) == 18 and herding["lrs"].between(0, 1).all()
    summary = summarise_scores(quick, ["ipc", "method", "loss"])
    assert summary.loc[summary["method"] == "random", "ior"].abs().max() == pytest.approx(0.0)
    xopt = relative_scores(load_cells("cross-optimizer", str(REPO / "reports" / "cross-optimizer" / "records")))
    assert xopt["lrs"].isna().all() and xopt["missing"].str.contains("no `full` rows").all()


def test_lr_and_steps_sensitivity():
    tried = {"0.0001": 60.0, "0.001": 90.0, "0.01": 85.0}
    recs = [record("dm", 91.0, lr=0.001, lr_grid=[0.1, 1, 10], lr_val_acc=tried, seed=s) for s in (0, 1)]
    lr = lr_sensitivity(cell_frame(recs))
    assert list(lr["lr_ratio"]) == [0.1, 1.0, 10.0] and list(lr["delta"]) == [-30.0, 0.0, -5.0]
    assert list(lr["n"]) == [2, 2, 2]
    recs = [record("ld", acc + 10 * off / 100 + s, steps=100, steps_offset=off, seed=s)
            for s in (0, 1, 2) for off, acc in ((-50, 80.0), (0, 85.0), (100, 86.0))]
    st = steps_sensitivity(cell_frame(recs)).set_index("steps_offset")
    assert list(st["steps_ratio"]) == [0.5, 1.0, 2.0]
    assert st.loc[-50, "delta"] == pytest.approx(80.0 - 5.0 - 85.0) and st.loc[100, "delta"] == pytest.approx(11.0)
    assert st.loc[-50, "ci_low"] == pytest.approx(-10.0) and st.loc[0, "delta"] == 0.0


def test_cross_architecture_and_optimizer_summaries_and_seed_cis():
    recs = [record("dc", acc + s, model=m, seed=s) for s in (0, 1) for m, acc in
            (("convnet3", 90.0), ("lenet", 70.0), ("resnet10t", 80.0))]
    arch = cross_axis(cell_frame(recs), "model").iloc[0]
    assert arch["mean"] == pytest.approx(80.5) and arch["worst"] == pytest.approx(70.5)
    assert arch["worst_model"] == "lenet" and arch["spread"] == pytest.approx(20.0) and arch["n_values"] == 3
    recs = [record("dc", acc, optimizer=o, lr=lr) for o, lr, acc in (("adam", 1e-3, 90.0), ("sgd", 1e-2, 40.0))]
    opt = cross_axis(cell_frame(recs), "optimizer").iloc[0]  # each optimizer's own lr is no protocol difference
    assert opt["worst_optimizer"] == "sgd" and opt["mean"] == pytest.approx(65.0)
    ci = seed_ci(load_cells("baselines-mnist", str(REPO / "reports" / "baselines-mnist" / "records")), ["method", "ipc"])
    assert (ci["ci_low"] <= ci["mean"]).all() and (ci["mean"] <= ci["ci_high"]).all() and ci["n"].min() >= 2
