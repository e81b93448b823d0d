"""`ddbench compare` and its statistics: on hand-made records and on the committed cross-optimizer records."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from synthetic_records import record

from benchmarks.errors import UserError
from reports import compare_cli
from reports.cells import cell_frame, load_cells
from reports.compare import compare, to_json, to_markdown
from reports.stats import bootstrap_ci, mean_ci, paired_t_p, summarise_pairs, wilcoxon_p

REPO = Path(__file__).resolve().parents[1]
BASE = [80.0, 82.5, 79.0, 90.0, 85.0, 70.0]
DIFF = [1.0, 2.0, 0.01, -0.5, 3.0, 1.5]  # one tie (|d| < 0.05), one loss


def _pairs_frame(extra=()):
    recs = []
    for i, (b, d) in enumerate(zip(BASE, DIFF, strict=True)):
        opt, seed = ("adam", "sgd", "adamw")[i % 3], i // 3
        recs.append(record("rded", b + d, loss="gift", label_kind="online", optimizer=opt, seed=seed))
        recs.append(record("rded", b, loss="kl", label_kind="online", optimizer=opt, seed=seed))
    return cell_frame(recs + list(extra))


def test_paired_difference_ci_p_values_and_counts():
    r = compare(_pairs_frame(), "rded:gift", "rded:kl", [])
    o = r["overall"]
    assert o["n"] == 6 and o["mean_diff"] == pytest.approx(np.mean(DIFF))
    assert o["ci_low"] <= o["mean_diff"] <= o["ci_high"] and o["ci_low"] < o["ci_high"]
    assert (o["wins"], o["ties"], o["losses"]) == (4, 1, 1)
    a, b = np.add(BASE, DIFF), np.array(BASE)
    assert o["p_value"] == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert o["p_ttest"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert r["only_a"] == [] and r["only_b"] == []
    assert compare(_pairs_frame(), "rded:gift", "rded:kl", []) == r  # seeded: the same result twice


def test_groups_and_cells_one_side_lacks():
    extra = [record("rded", 60.0, loss="gift", label_kind="online", optimizer="lion", seed=0)]
    r = compare(_pairs_frame(extra), "rded:gift", "rded:kl", ["optimizer"])
    assert r["overall"]["n"] == 6
    assert r["only_a"] == [{"optimizer": "lion", "seed": 0, "distill_seed": 0}] and r["only_b"] == []
    groups = {g["group"]["optimizer"]: g for g in r["groups"]}
    assert set(groups) == {"adam", "sgd", "adamw"} and all(g["n"] == 2 for g in groups.values())
    assert groups["adam"]["mean_diff"] == pytest.approx((DIFF[0] + DIFF[3]) / 2)
    md = to_markdown(r)
    assert "optimizer=adam" in md and "Cells only rded:gift has (1)" in md and "optimizer=lion, seed=0" in md
    assert json.loads(to_json(r))["overall"]["n"] == 6


def test_bad_sides_are_user_errors():
    df = _pairs_frame([record("rded", 50.0, loss="kl", loss_params={"T": 4.0, "t2": False}, label_kind="online")])
    with pytest.raises(UserError, match="present|it has.*rded:gift"):
        compare(df, "dsa", "rded:kl", [])
    with pytest.raises(UserError, match="several loss settings"):
        compare(df, "rded:gift", "rded:kl", [])
    r = compare(df, "rded:gift", "rded:kl(T=1.0,t2=False)", [])  # the full label picks one setting
    assert r["overall"]["n"] == 6
    with pytest.raises(UserError, match="same cell"):
        compare(_pairs_frame(), "rded", "rded:kl", [])  # bare rded has two losses per cell
    with pytest.raises(UserError, match="cannot group by"):
        compare(_pairs_frame(), "rded:gift", "rded:kl", ["colour"])
    with pytest.raises(UserError, match="both"):
        compare(_pairs_frame(), "rded:kl", "rded:kl", [])


def test_bare_methods_pair_loss_by_loss():
    recs = [record(m, acc + (5.0 if m == "rded" else 0.0), loss=loss, label_kind="online", seed=s)
            for m in ("rded", "soft_random") for loss, acc in (("kl", 70.0), ("gift", 80.0)) for s in (0, 1)]
    r = compare(cell_frame(recs), "rded", "soft_random", ["loss"])
    assert r["overall"]["n"] == 4 and r["overall"]["mean_diff"] == pytest.approx(5.0)
    assert {g["group"]["loss"] for g in r["groups"]} == {"kl(T=1.0,t2=False)", "gift(alpha=0.1,w=0.1)"}


def test_committed_cross_optimizer_gift_vs_kl():
    df = load_cells("cross-optimizer", str(REPO / "reports" / "cross-optimizer" / "records"))
    with pytest.raises(UserError, match="several loss settings"):  # KL with and without T^2
        compare(df, "rded:gift", "rded:kl", ["optimizer"])
    r = compare(df, "rded:gift", "rded:kl(T=20.0,t2=False)", ["optimizer"])
    ok = df[df.status == "ok"]
    gift = ok[(ok.method == "rded") & (ok.loss_name == "gift")].sort_values(["optimizer", "seed"])
    kl = ok[(ok.method == "rded") & (ok.loss == "kl(T=20.0,t2=False)")].sort_values(["optimizer", "seed"])
    diffs = gift["test_acc"].to_numpy() - kl["test_acc"].to_numpy()
    o = r["overall"]
    assert o["n"] == len(diffs) == 14 and o["mean_diff"] == pytest.approx(diffs.mean())
    assert o["ci_low"] <= o["mean_diff"] <= o["ci_high"]
    assert len(r["groups"]) == 7 and r["only_a"] == [] and r["only_b"] == []


def test_cli_module(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DDBENCH_REPORTS", str(REPO / "reports"))
    parser = argparse.ArgumentParser()
    compare_cli.add_parser(parser.add_subparsers(dest="cmd"))
    compare_cli.run(parser.parse_args(["compare", "cross-optimizer", "rded:gift", "rded:kl(T=20.0,t2=True)", "--by",
                                       "optimizer"]))
    out = capsys.readouterr().out
    assert out.startswith("## rded:gift vs rded:kl(T=20.0,t2=True)") and "optimizer=sgd" in out
    compare_cli.run(parser.parse_args(["compare", "cross-optimizer", "soft_random", "rded", "--json"]))
    assert json.loads(capsys.readouterr().out)["overall"]["n"] == 42  # 7 optimizers x 2 seeds x 3 losses
    with pytest.raises(UserError, match="rded:gift"):
        compare_cli.run(parser.parse_args(["compare", "cross-optimizer", "dsa", "rded"]))
    with pytest.raises(UserError, match="no records"):
        compare_cli.run(parser.parse_args(["compare", "nosuch", "a", "b", "--records-dir", str(tmp_path / "x")]))
    with pytest.raises(UserError, match="--by"):
        compare_cli.parse_by("model,,ipc")


def test_statistics_helpers():
    x = np.random.default_rng(3).normal(90.0, 2.0, size=20)
    low, high = bootstrap_ci(x)
    assert low <= x.mean() <= high and (low, high) == bootstrap_ci(x) and (low, high) != bootstrap_ci(x, seed=1)
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    assert wilcoxon_p([1, 2, 3], [1, 2, 3]) == 1.0 and paired_t_p([1, 2, 3], [1, 2, 3]) == 1.0
    assert paired_t_p([2, 3, 4], [1, 2, 3]) is None  # equal non-zero differences: t undefined
    s = summarise_pairs([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], tie=0.05)
    assert (s.wins, s.ties, s.losses) == (2, 1, 0) and s.mean_diff == pytest.approx(1.0)
    m = mean_ci([90.0, 92.0, 94.0])
    assert m["mean"] == pytest.approx(92.0) and m["std"] == pytest.approx(2.0) and m["ci_low"] <= 92.0 <= m["ci_high"]
