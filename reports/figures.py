"""Paper figures drawn from a suite's results frame (and, for label grids, from committed artifacts).

Every function is deterministic in its input and writes PNGs without software metadata, so a
report regenerated from the same records is byte-identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.artifact import DistilledSet  # noqa: E402
from reports.exact import exact_mean, exact_std  # noqa: E402


def _ipc_order(v: object) -> int:
    return 10**9 if v == "all" else int(v)  # type: ignore[call-overload]


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    ok = df[df.status == "ok"]
    out = ok.groupby(by, sort=False, dropna=False).agg(mean=("test_acc", exact_mean), std=("test_acc", exact_std),
                                                       n=("test_acc", "size")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["label"] = [f"{m}@{i}" for m, i in zip(out["method"], out["ipc"], strict=True)]
    return out


def by_axis(df: pd.DataFrame, dataset: str, axis: str, path: Path) -> None:
    """Grouped bars: test accuracy per value of ``axis`` (optimizer, model, ...), one bar per method@ipc."""
    s = _summary(df[df.dataset == dataset], ["method", "ipc", axis])
    labels = list(dict.fromkeys(s.sort_values(["ipc", "method"], key=lambda c: c.map(_ipc_order) if c.name == "ipc"
                                              else c)["label"]))
    values = sorted(s[axis].astype(str).unique())
    s[axis] = s[axis].astype(str)
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.5 * len(values) * max(1, len(labels)))), 4.5), dpi=100)
    width = 0.8 / max(1, len(labels))
    for j, lab in enumerate(labels):
        sub = s[s.label == lab].set_index(axis).reindex(values)
        xs = [i + j * width for i in range(len(values))]
        ax.bar(xs, sub["mean"].fillna(0), width, yerr=sub["std"].fillna(0), label=lab, capsize=2)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(values))], values, rotation=20, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{dataset}: test accuracy by {axis} (mean ± std over the other axes and seeds)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def heatmap(df: pd.DataFrame, dataset: str, axis: str, path: Path) -> None:
    """Method@ipc (rows) x ``axis`` values (columns): mean test accuracy written in each cell."""
    s = _summary(df[df.dataset == dataset], ["method", "ipc", axis])
    s[axis] = s[axis].astype(str)
    rows = list(dict.fromkeys(s.sort_values(["ipc", "method"], key=lambda c: c.map(_ipc_order) if c.name == "ipc"
                                            else c)["label"]))
    cols = sorted(s[axis].unique())
    grid = s.pivot_table(index="label", columns=axis, values="mean", aggfunc="first").reindex(index=rows, columns=cols)
    fig, ax = plt.subplots(figsize=(min(14.0, 2.0 + 1.1 * len(cols)), 1.0 + 0.45 * len(rows)), dpi=100)
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = grid.iat[i, j]
            if pd.notna(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="white" if v < 60 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=25, fontsize=8, ha="right")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    fig.colorbar(im, ax=ax, label="test accuracy (%)")
    ax.set_title(f"{dataset}: test accuracy by method and {axis} (mean over seeds)", fontsize=10)
    _save(fig, path)


def _budget_label(iterations: Any, seconds: Any) -> str:
    """A point's budget: ``200`` iterations, ``60s`` of wall, or both (``800|60s``)."""
    parts = ([str(int(iterations))] if pd.notna(iterations) else []) + ([f"{seconds:g}s"] if pd.notna(seconds) else [])
    return "|".join(parts) or "default"


def budget_curve(df: pd.DataFrame, dataset: str, path: Path) -> None:
    """Lines per method@ipc: test accuracy against distillation wall time, one point per compute budget
    (an iteration count or a seconds cap)."""
    d = df[(df.dataset == dataset) & (df.status == "ok")]
    d = d.assign(budget=[_budget_label(i, s) for i, s in zip(d["iterations"], d["seconds"], strict=True)])
    s = d.groupby(["method", "ipc", "budget"], sort=True).agg(
        mean=("test_acc", exact_mean), std=("test_acc", exact_std), cost=("distill_wall_s", exact_mean)).reset_index()
    s["std"] = s["std"].fillna(0.0)
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=100)
    for (method, ipc), sub in s.groupby(["method", "ipc"], sort=True):
        sub = sub.sort_values("cost")
        ax.errorbar(sub["cost"].clip(lower=1e-3), sub["mean"], yerr=sub["std"], marker="o", capsize=2,
                    label=f"{method}@{ipc}")
        for x, y, b in zip(sub["cost"].clip(lower=1e-3), sub["mean"], sub["budget"], strict=True):
            ax.annotate(b, (x, y), fontsize=6, textcoords="offset points", xytext=(3, 3))
    ax.set_xscale("log")
    ax.set_xlabel("distillation wall time per artifact (s, log; labels = iterations or seconds cap)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{dataset}: accuracy against distillation cost", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def by_steps_offset(df: pd.DataFrame, dataset: str, path: Path) -> None:
    """Lines: test accuracy against the shift of the training length from the chosen one."""
    s = _summary(df[df.dataset == dataset], ["method", "ipc", "model", "steps_offset"])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for (lab, model), sub in s.groupby(["label", "model"], sort=True):
        sub = sub.sort_values("steps_offset")
        ax.errorbar(sub["steps_offset"], sub["mean"], yerr=sub["std"], marker="o", capsize=2, label=f"{lab} {model}")
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("training steps relative to the step count chosen on validation")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{dataset}: robustness to the training length", fontsize=10)
    ax.legend(fontsize=7)
    _save(fig, path)


def label_grid(ds: DistilledSet, classes: list[str], path: Path, max_images: int = 20) -> None:
    """Base images with their (learned) label distributions as bars under each image."""
    true_all = ds.meta.get("base_true_labels") or [0] * len(ds.images)
    rank = {i: sum(1 for j in range(i) if true_all[j] == true_all[i]) for i in range(len(ds.images))}
    picked = sorted(range(len(ds.images)), key=lambda i: (rank[i], true_all[i]))[:max_images]  # every class first
    order = sorted(picked, key=lambda i: (true_all[i], i))
    n = len(order)
    cols = min(10, n)
    rows = -(-n // cols)
    probs = ds.soft_targets()
    fig, axes = plt.subplots(2 * rows, cols, figsize=(1.3 * cols, 2.4 * rows), dpi=100,
                             gridspec_kw={"height_ratios": [1.0, 0.8] * rows}, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    true = ds.meta.get("base_true_labels")
    for k, i in enumerate(order):
        r, c = divmod(k, cols)
        img = ds.images[i].permute(1, 2, 0).squeeze(-1).numpy()
        axes[2 * r, c].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        axes[2 * r, c].set_title(f"true {classes[true[i]]}" if true else f"#{i}", fontsize=7)
        bar = axes[2 * r + 1, c]
        bar.axis("on")
        p = probs[i].numpy()
        bar.bar(range(len(p)), p, color=["C3" if true and j == true[i] else "C0" for j in range(len(p))])
        bar.set_ylim(0, 1)
        bar.set_xticks(range(len(p)), [str(x)[:2] for x in classes], fontsize=5)
        bar.tick_params(axis="y", labelsize=5)
    method = ds.meta.get("method", "?")
    fig.suptitle(f"{method} on {ds.meta.get('dataset', '?')}: base images and their labels "
                 f"(ipc {ds.meta.get('ipc')}, seed {ds.meta.get('seed')}; red = true class)", fontsize=9)
    _save(fig, path)
