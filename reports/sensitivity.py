"""Sensitivity as numbers: accuracy against the lr and the training length around the validation-chosen
values, across architectures and optimizers, and bootstrap CIs over seeds, from a suite's stored rows.

Accuracies stay in percentage points here (as the leaderboard); the relative scores are in reports.scores.
"""

from __future__ import annotations

import pandas as pd

from reports.cells import PROTOCOL, REPEAT, key_strings, ok_rows
from reports.stats import bootstrap_ci, mean_ci

SET = ["suite", "dataset", "method", "ipc", "loss", "iterations", "seconds"]  # one distilled set and its loss


def lr_sensitivity(df: pd.DataFrame) -> pd.DataFrame:
    """Validation accuracy at each tried lr relative to the chosen one (ratio tried / chosen), from the
    ``lr_val_acc`` of rows that tried several: the test split is read only for the chosen lr, by design.
    One row per set, model, optimizer and ratio: mean validation accuracy, its drop from the chosen lr's
    (``delta``, points, <= 0 where selection picked the best) and n."""
    rows = []
    for _, r in ok_rows(df).iterrows():
        tried = {float(k): float(v) for k, v in (r["lr_val_acc"] or {}).items()}
        if len(tried) < 2 or float(r["lr"]) not in tried:
            continue
        best = tried[float(r["lr"])]
        for lr, acc in tried.items():
            rows.append({**{c: r[c] for c in [*SET, "model", "optimizer"]},
                         "lr_ratio": float(f"{lr / float(r['lr']):.3g}"), "val_acc": acc, "delta": acc - best})
    cols = [*SET, "model", "optimizer", "lr_ratio"]
    if not rows:
        return pd.DataFrame(columns=[*cols, "val_acc", "delta", "n"])
    out = pd.DataFrame(rows).groupby(cols, dropna=False, sort=True)
    return out.agg(val_acc=("val_acc", "mean"), delta=("delta", "mean"), n=("delta", "size")).reset_index()


def steps_sensitivity(df: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy over a ``steps_offset`` sweep against the unshifted (validation-chosen or configured)
    length: per set, protocol and offset, mean accuracy, the steps ratio (trained / unshifted) and the mean
    paired difference to offset 0 over repeats with its 95% bootstrap CI."""
    ok = ok_rows(df)
    protocol = [c for c in PROTOCOL if c != "steps_offset"]
    repeat = [c for c in REPEAT if c not in ("iterations", "seconds")]
    ok = ok.assign(_set=key_strings(ok, [*SET, *protocol]), _rep=key_strings(ok, repeat))
    out = []
    for _, g in ok.groupby("_set", sort=True):
        if g["steps_offset"].nunique() < 2 or not (g["steps_offset"] == 0).any():
            continue
        base = g[g["steps_offset"] == 0].set_index("_rep")
        for offset, h in g.groupby("steps_offset", sort=True):
            h = h.set_index("_rep")
            shared = sorted(set(h.index) & set(base.index))
            diffs = (h.loc[shared, "test_acc"].astype(float) - base.loc[shared, "test_acc"].astype(float)).to_numpy()
            low, high = bootstrap_ci(diffs) if len(diffs) else (None, None)
            unshifted = (base["steps"].astype(float)).mean()
            out.append({**{c: g[c].iloc[0] for c in [*SET, "model", "optimizer"]}, "steps_offset": int(offset),
                        "steps": float(h["steps"].astype(float).mean()),
                        "steps_ratio": float(h["steps"].astype(float).mean() / unshifted),
                        "acc": float(h["test_acc"].astype(float).mean()),
                        "delta": float(diffs.mean()) if len(diffs) else None, "ci_low": low, "ci_high": high,
                        "n": int(len(diffs))})
    cols = [*SET, "model", "optimizer", "steps_offset", "steps", "steps_ratio", "acc", "delta", "ci_low", "ci_high", "n"]
    return pd.DataFrame(out, columns=cols)


def cross_axis(df: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Robustness across ``axis`` ("model" or "optimizer"): per set and remaining protocol, the mean over
    the axis values of their mean accuracy, the worst value (and which), the best and the spread
    (best - worst), with how many values; sets evaluated on one value only are left out."""
    if axis not in ("model", "optimizer"):
        raise ValueError(f"cross_axis varies model or optimizer, not {axis!r}")
    drop = {axis, "base_lr"} if axis == "optimizer" else {axis}  # an optimizer brings its own default lr
    protocol = [c for c in PROTOCOL if c not in drop]
    ok = ok_rows(df)
    ok = ok.assign(_set=key_strings(ok, [*SET, *protocol]))
    out = []
    for _, g in ok.groupby("_set", sort=True):
        per = g.groupby(axis, sort=True)["test_acc"].mean()
        if len(per) < 2:
            continue
        keep = [c for c in (*SET, "model", "optimizer", "augment") if c != axis]
        out.append({**{c: g[c].iloc[0] for c in keep}, "n_values": int(len(per)), "mean": float(per.mean()),
                    "worst": float(per.min()), f"worst_{axis}": str(per.idxmin()), "best": float(per.max()),
                    f"best_{axis}": str(per.idxmax()), "spread": float(per.max() - per.min())})
    keep = [c for c in (*SET, "model", "optimizer", "augment") if c != axis]
    return pd.DataFrame(out, columns=[*keep, "n_values", "mean", "worst", f"worst_{axis}", "best", f"best_{axis}",
                                      "spread"])


def seed_ci(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, std, n and the 95% bootstrap CI of the mean test accuracy over the repeats in each ``by`` group."""
    rows = []
    for values, g in ok_rows(df).groupby(by, dropna=False, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        rows.append({**dict(zip(by, values, strict=True)), **mean_ci(g["test_acc"].astype(float).to_numpy())})
    return pd.DataFrame(rows, columns=[*by, "mean", "std", "n", "ci_low", "ci_high"])
