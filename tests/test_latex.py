"""LaTeX tables: booktabs rules, best value bold (per column and row group), mean ± std, escaping, determinism."""

from pathlib import Path

import pandas as pd
import pytest

from reports.frame import load_records, to_frame
from reports.generate import summarise
from reports.latex import pivot_latex, summary_latex, to_latex

REPO = Path(__file__).resolve().parents[1]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"ipc": [1, 1, 10, 10], "method": ["soft_random", "dc", "soft_random", "dc"],
                         "acc": [61.234, 70.5, 90.0, 89.0], "acc_std": [1.0, 2.25, 0.5, None],
                         "wall": [3.0, 1.0, 4.0, 2.0]})


def test_booktabs_bold_best_and_mean_pm_std():
    tex = to_latex(_frame(), {"acc": "acc_std", "wall": None}, text=["ipc", "method"], best={"wall": "min"},
                   group_by=["ipc"], caption="Accuracy", label="tab:acc")
    assert all(rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    assert r"\caption{Accuracy}" in tex and r"\label{tab:acc}" in tex
    rows = [ln for ln in tex.splitlines() if ln.startswith(("1 &", "10 &"))]
    assert rows[0] == r"1 & soft\_random & $61.23 \pm 1.00$ & $3.00$ \\"
    assert rows[1] == r"1 & dc & $\mathbf{70.50} \pm \mathbf{2.25}$ & $\mathbf{1.00}$ \\"
    assert rows[2] == r"10 & soft\_random & $\mathbf{90.00} \pm \mathbf{0.50}$ & $4.00$ \\"
    assert rows[3] == r"10 & dc & $89.00$ & $\mathbf{2.00}$ \\"  # no std: the mean alone
    assert to_latex(_frame(), {"acc": "acc_std"}, text=["method"]) == to_latex(_frame(), {"acc": "acc_std"},
                                                                              text=["method"])


def test_ties_at_the_printed_precision_are_all_bold_and_bad_columns_fail():
    df = pd.DataFrame({"m": ["a", "b", "c"], "acc": [90.001, 89.999, 80.0]})
    tex = to_latex(df, {"acc": None}, text=["m"])
    assert tex.count(r"\mathbf{90.00}") == 2 and r"$80.00$" in tex
    with pytest.raises(ValueError, match="no column"):
        to_latex(df, {"nope": None}, text=["m"])
    with pytest.raises(ValueError, match="best"):
        to_latex(df, {"acc": None}, text=["m"], best={"acc": "median"})


def test_tables_from_committed_records():
    df = to_frame(load_records(REPO / "reports" / "cross-optimizer" / "records"))
    tex = pivot_latex(summarise(df, ["method", "loss", "optimizer"]), ["method", "loss"], "optimizer")
    assert r"\toprule" in tex and tex.count(r"\mathbf{") == 2 * 7  # one best (mean and std) per optimizer
    assert r"$\mathbf{95.94} \pm \mathbf{0.06}$" in tex  # rded + GIFT under RMSprop, the best of its column
    tex = summary_latex(summarise(df, ["method", "loss"]), ["method", "loss"])
    assert tex.count(r"\mathbf{") == 2 and "soft\\_random" in tex
