"""Robustness figures from the records that carry a panel: a set x corruption heatmap of mean accuracy (clean
first) and accuracy-against-epsilon curves per attack, one line per set (epsilon 0 = the attacked subset clean)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from reports.exact import exact_mean, exact_std
from reports.figures import LEGEND, _figure, _save, _y_range, heatmap, method_style
from reports.robustness import CORR, attack_columns, corruption_columns, figure_stems, panel_frame

Draw = Callable[[Path], None]


def _labels(pf: pd.DataFrame) -> pd.Series:
    """One label per set: the method, with the loss where the rows vary it (``rded:gift``)."""
    if pf["loss"].nunique() > 1:
        return pf["method"] + ":" + pf["loss"].map(lambda s: s.split("(")[0])
    return pf["method"].astype(str)


def corruption_long(pf: pd.DataFrame) -> pd.DataFrame:
    """Long form for the heatmap: one row per record and column (clean, then each corruption)."""
    corr = corruption_columns(pf)
    base = pf.assign(method=_labels(pf))[["dataset", "method", "ipc", "status", "clean_acc", *corr]]
    long = base.melt(id_vars=["dataset", "method", "ipc", "status"], value_vars=["clean_acc", *corr],
                     var_name="corruption", value_name="test_acc")
    long["corruption"] = long["corruption"].map(lambda c: "clean" if c == "clean_acc" else c[len(CORR):])
    return long.dropna(subset=["test_acc"])


def attack_long(pf: pd.DataFrame) -> pd.DataFrame:
    """Long form for the epsilon curves: one row per record, attack and epsilon, with epsilon 0 the subset clean."""
    rows = []
    for r, label in zip(pf.to_dict("records"), _labels(pf), strict=True):
        attacks = {c.split("@")[0] for c in attack_columns(pf) if pd.notna(r[c])}
        for attack in sorted(attacks):
            rows.append({"set": label, "method": r["method"], "ipc": r["ipc"], "attack": attack, "eps": 0.0,
                         "acc": r["attack_clean_acc"]})
            rows += [{"set": label, "method": r["method"], "ipc": r["ipc"], "attack": attack,
                      "eps": float(c.split("@")[1]), "acc": r[c]}
                     for c in attack_columns(pf) if c.startswith(f"{attack}@") and pd.notna(r[c])]
    return pd.DataFrame(rows, columns=["set", "method", "ipc", "attack", "eps", "acc"])


def corruption_heatmap(pf: pd.DataFrame, dataset: str, path: Path) -> None:
    """Set@ipc (rows) x clean and each corruption (columns): mean test accuracy over runs."""
    order = ["clean", *(c[len(CORR):] for c in corruption_columns(pf))]
    heatmap(corruption_long(pf), dataset, "corruption", path, columns=order)


def epsilon_curves(pf: pd.DataFrame, dataset: str, path: Path) -> None:
    """One panel per attack: mean accuracy (± std over runs) against epsilon, one line per set@ipc."""
    long = attack_long(pf)
    attacks = sorted(long["attack"].unique())
    fig, axes = _figure(4.2 * len(attacks), 3.8, ncols=len(attacks), squeeze=False)
    s = long.groupby(["set", "method", "ipc", "attack", "eps"], sort=True).agg(
        mean=("acc", exact_mean), std=("acc", exact_std)).reset_index()
    s["std"] = s["std"].fillna(0.0)
    for ax, attack in zip(axes[0], attacks, strict=True):
        here = s[s["attack"] == attack]
        for (label, method, ipc), line in here.groupby(["set", "method", "ipc"], sort=True):
            st = method_style(str(method))
            dashed = ":" in str(label) and not str(label).endswith(":kl")
            ax.errorbar(line["eps"], line["mean"], yerr=line["std"], color=st["color"], marker=st["marker"],
                        linestyle="--" if dashed else "-", label=f"{label}@{ipc}")
        eps = sorted(here["eps"].unique())
        ax.set_xticks(eps, [f"{e:g}" for e in eps])
        ax.set_xlabel("epsilon (L-inf, pixel units; 0 = no attack)")
        ax.set_ylabel("accuracy on the attacked subset (%)")
        _y_range(ax, here["mean"] - here["std"], here["mean"] + here["std"])
        ax.set_title(f"{dataset}: {attack.upper()}")
    axes[0][-1].legend(**LEGEND)
    _save(fig, path)


def robustness_figures(records: list[dict[str, Any]], dataset: str) -> list[tuple[str, Draw]]:
    """The robustness figures ``dataset``'s records call for, as (file stem, draw(path))."""
    pf = panel_frame(records, dataset)
    draw = {"corruptions": corruption_heatmap, "attacks": epsilon_curves}
    return [(stem, lambda p, f=draw[kind]: f(pf, dataset, p)) for kind, stem, _ in figure_stems(pf, dataset)]
