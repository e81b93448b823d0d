"""Paper figures drawn from a suite's results frame (and, for label grids, from committed artifacts).

One matplotlib style (``STYLE``, applied in ``_figure``), one fixed method -> (colour, marker, hatch) map from
the colour-blind-safe Okabe-Ito palette (``method_style``), legends outside the axes, y ranges from the data
(error bars never clipped). Every function is deterministic in its input and writes PNG, PDF or SVG (by the
path's suffix) without dates or software metadata, so a report regenerated from the same records is
byte-identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.artifact import DistilledSet  # noqa: E402
from reports.exact import exact_mean, exact_std  # noqa: E402

STYLE: dict[str, Any] = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 7, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "axes.grid.axis": "y",
    "grid.alpha": 0.3, "hatch.linewidth": 0.6, "errorbar.capsize": 2, "lines.markersize": 5,
    "svg.hashsalt": "ddbench", "svg.fonttype": "path", "pdf.fonttype": 42,
}
# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
HATCHES = ("", "xx", "oo", "++")  # a method's own pattern: it tells apart methods that share a colour
IPC_HATCHES = ("", "//", "..", "--", "||")  # added to the method's pattern in bars: one per ipc
# Known methods get fixed slots (so the field's usual lines look the same in every figure); others hash to one.
METHOD_ORDER = ("random", "herding", "kcenter", "full", "ld", "ld_rr", "ld_warm", "base_true", "base_smooth",
                "soft_random", "rded", "dd", "dc", "dsa", "dm", "mtt", "rded_static", "random_online")
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}  # outside, right of the axes
METADATA = {".png": {"Software": None}, ".pdf": {"Creator": None, "Producer": None, "CreationDate": None},
            ".svg": {"Creator": None, "Date": None}}


def method_style(method: str) -> dict[str, str]:
    """The method's colour, marker and hatch: the same in every figure, distinct for the first 16 methods."""
    if method in METHOD_ORDER:
        i = METHOD_ORDER.index(method)
    else:
        i = len(METHOD_ORDER) + int(hashlib.sha256(method.encode()).hexdigest(), 16) % 64
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "hatch": HATCHES[(i // len(PALETTE)) % len(HATCHES)]}


def _ipc_order(v: object) -> int:
    return 10**9 if v == "all" else int(v)  # type: ignore[call-overload]


def _figure(width: float, height: float, **kw: Any) -> tuple[plt.Figure, Any]:
    """A figure drawn in ``STYLE`` (the one place the style is applied)."""
    with plt.rc_context(STYLE):
        return plt.subplots(figsize=(width, height), **kw)


def _save(fig: plt.Figure, path: Path) -> None:
    """Write by suffix (png, pdf, svg), tight around the outside legend, with no dates or software names."""
    path = Path(path)
    with plt.rc_context(STYLE):
        fig.savefig(path, bbox_inches="tight", metadata=METADATA.get(path.suffix.lower(), {}))
    plt.close(fig)


def _y_range(ax: Any, lows: pd.Series, highs: pd.Series) -> None:
    """y limits from the data with a margin: every error bar whole (accuracy is never below 0)."""
    lo, hi = float(lows.min()), float(highs.max())
    pad = max(1.0, 0.06 * (hi - lo))
    ax.set_ylim(max(0.0, lo - pad), hi + pad)


def _summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    ok = df[df.status == "ok"]
    out = ok.groupby(by, sort=False, dropna=False).agg(mean=("test_acc", exact_mean), std=("test_acc", exact_std),
                                                       n=("test_acc", "size")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["label"] = [f"{m}@{i}" for m, i in zip(out["method"], out["ipc"], strict=True)]
    return out


def by_axis(df: pd.DataFrame, dataset: str, axis: str, path: Path) -> None:
    """Grouped bars: test accuracy per value of ``axis`` (optimizer, model, ...), one bar per method@ipc that has
    results there (no empty slots); colour and pattern by method, an added hatch per ipc."""
    s = _summary(df[df.dataset == dataset], ["method", "ipc", axis])
    s = s.sort_values(["ipc", "method"], key=lambda c: c.map(_ipc_order) if c.name == "ipc" else c)
    labels = list(dict.fromkeys(s["label"]))
    ipcs = sorted(s["ipc"].unique(), key=_ipc_order)
    values = sorted(s[axis].astype(str).unique())
    s[axis] = s[axis].astype(str)
    fig, ax = _figure(min(16.0, max(6.0, 0.32 * len(s) + 0.8 * len(values))), 4.2)
    done: set[str] = set()
    for i, v in enumerate(values):
        here = s[s[axis] == v].set_index("label").reindex([lab for lab in labels if lab in set(s.label[s[axis] == v])])
        width = 0.84 / len(here)
        for j, (lab, r) in enumerate(here.iterrows()):
            st = method_style(r["method"])
            hatch = st["hatch"] + IPC_HATCHES[ipcs.index(r["ipc"]) % len(IPC_HATCHES)]
            ax.bar(i - 0.42 + (j + 0.5) * width, r["mean"], width, yerr=r["std"], color=st["color"], hatch=hatch,
                   edgecolor="white" if not hatch else "#333333", linewidth=0.4,
                   label=None if lab in done else lab, error_kw={"elinewidth": 0.8, "capsize": 2})
            done.add(lab)
    ax.set_xticks(range(len(values)), values, rotation=20, ha="right")
    ax.set_ylabel("test accuracy (%)")
    _y_range(ax, s["mean"] - s["std"], s["mean"] + s["std"])
    ax.set_title(f"{dataset}: test accuracy by {axis} (mean ± std over the other axes and seeds)")
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda k: labels.index(names[k]))
    ax.legend([handles[k] for k in order], [names[k] for k in order], ncol=1 if len(names) <= 16 else 2, **LEGEND)
    _save(fig, path)


def by_ipc(df: pd.DataFrame, dataset: str, path: Path) -> None:
    """Lines per method (and loss, where the suite varies it): test accuracy against images per class."""
    ok = df[(df.dataset == dataset) & (df.status == "ok")]
    d, full = ok[(ok.ipc != "all") & (ok.method != "full")], ok[ok.method == "full"]
    by = ["method", "loss"] if d["loss"].nunique() > 1 else ["method"]
    losses = sorted(d["loss"].unique())
    s = d.groupby([*by, "ipc"], sort=True).agg(mean=("test_acc", exact_mean), std=("test_acc", exact_std)).reset_index()
    s["std"] = s["std"].fillna(0.0)
    s["ipc_n"] = s["ipc"].map(_ipc_order)
    fig, ax = _figure(6.5, 4.2)
    for key, sub in s.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        st = method_style(key[0])
        style = ("-", "--", ":", "-.")[losses.index(key[1]) % 4] if len(key) > 1 else "-"
        sub = sub.sort_values("ipc_n")
        ax.errorbar(sub["ipc_n"], sub["mean"], yerr=sub["std"], color=st["color"], marker=st["marker"],
                    linestyle=style, label=":".join(key))
    if len(full):
        ax.axhline(exact_mean(full["test_acc"]), color=method_style("full")["color"], lw=0.8, ls=":",
                   label="full (whole train split)")
    ax.set_xscale("log")
    ticks = sorted(s["ipc_n"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("images per class (log)")
    ax.set_ylabel("test accuracy (%)")
    lows = pd.concat([s["mean"] - s["std"], full["test_acc"]]) if len(full) else s["mean"] - s["std"]
    highs = pd.concat([s["mean"] + s["std"], full["test_acc"]]) if len(full) else s["mean"] + s["std"]
    _y_range(ax, lows, highs)
    ax.set_title(f"{dataset}: accuracy against images per class (mean ± std)")
    ax.legend(**LEGEND)
    _save(fig, path)


def heatmap(df: pd.DataFrame, dataset: str, axis: str, path: Path, columns: list[str] | None = None) -> None:
    """Method@ipc (rows) x ``axis`` values (columns, sorted unless ``columns`` orders them): mean test accuracy
    written in each cell."""
    s = _summary(df[df.dataset == dataset], ["method", "ipc", axis])
    s[axis] = s[axis].astype(str)
    rows = list(dict.fromkeys(s.sort_values(["ipc", "method"], key=lambda c: c.map(_ipc_order) if c.name == "ipc"
                                            else c)["label"]))
    present = set(s[axis].unique())
    cols = [c for c in columns if c in present] if columns else sorted(present)
    grid = s.pivot_table(index="label", columns=axis, values="mean", aggfunc="first").reindex(index=rows, columns=cols)
    fig, ax = _figure(min(14.0, 2.0 + 1.1 * len(cols)), 1.0 + 0.45 * len(rows))
    ax.grid(False)
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = grid.iat[i, j]
            if pd.notna(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="white" if v < 60 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=25, fontsize=8, ha="right")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    fig.colorbar(im, ax=ax, label="test accuracy (%)")
    ax.set_title(f"{dataset}: test accuracy by method and {axis} (mean over seeds)")
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
    fig, ax = _figure(6.5, 4.2)
    ipcs = sorted(s["ipc"].unique(), key=_ipc_order)
    for (method, ipc), sub in s.groupby(["method", "ipc"], sort=True):
        st = method_style(method)
        sub = sub.sort_values("cost")
        ax.errorbar(sub["cost"].clip(lower=1e-3), sub["mean"], yerr=sub["std"], color=st["color"], marker=st["marker"],
                    linestyle=("-", "--", ":", "-.")[ipcs.index(ipc) % 4], label=f"{method}@{ipc}")
        for x, y, b in zip(sub["cost"].clip(lower=1e-3), sub["mean"], sub["budget"], strict=True):
            ax.annotate(b, (x, y), fontsize=6, textcoords="offset points", xytext=(3, 3))
    ax.set_xscale("log")
    ax.set_xlabel("distillation wall time per artifact (s, log; labels = iterations or seconds cap)")
    ax.set_ylabel("test accuracy (%)")
    _y_range(ax, s["mean"] - s["std"], s["mean"] + s["std"])
    ax.set_title(f"{dataset}: accuracy against distillation cost")
    ax.legend(**LEGEND)
    _save(fig, path)


def by_steps_offset(df: pd.DataFrame, dataset: str, path: Path) -> None:
    """Lines: test accuracy against the shift of the training length from the chosen one."""
    s = _summary(df[df.dataset == dataset], ["method", "ipc", "model", "steps_offset"])
    fig, ax = _figure(6.5, 4.2)
    models = sorted(s["model"].unique())
    for (lab, model), sub in s.groupby(["label", "model"], sort=True):
        st = method_style(sub["method"].iloc[0])
        sub = sub.sort_values("steps_offset")
        ax.errorbar(sub["steps_offset"], sub["mean"], yerr=sub["std"], color=st["color"], marker=st["marker"],
                    linestyle=("-", "--", ":", "-.")[models.index(model) % 4], label=f"{lab} {model}")
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("training steps relative to the step count chosen on validation")
    ax.set_ylabel("test accuracy (%)")
    _y_range(ax, s["mean"] - s["std"], s["mean"] + s["std"])
    ax.set_title(f"{dataset}: robustness to the training length")
    ax.legend(**LEGEND)
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
    fig, axes = _figure(1.3 * cols, 2.4 * rows, nrows=2 * rows, ncols=cols,
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
        bar.bar(range(len(p)), p, color=[PALETTE[3] if true and j == true[i] else PALETTE[0] for j in range(len(p))])
        bar.grid(False)
        bar.set_ylim(0, 1)
        bar.set_xticks(range(len(p)), [str(x)[:2] for x in classes], fontsize=5)
        bar.tick_params(axis="y", labelsize=5)
    method = ds.meta.get("method", "?")
    fig.suptitle(f"{method} on {ds.meta.get('dataset', '?')}: base images and their labels "
                 f"(ipc {ds.meta.get('ipc')}, seed {ds.meta.get('seed')}; vermilion = true class)", fontsize=9)
    _save(fig, path)


Draw = Callable[[Path], None]


def suite_figures(df: pd.DataFrame, dataset: str) -> list[tuple[str, Draw]]:
    """The figures a suite's records call for on one dataset, as (file stem, draw(path)): accuracy by model,
    accuracy vs ipc, the method x architecture heatmap, optimizer robustness, the loss study, accuracy vs
    distillation cost and robustness to the training length, each only where the suite varies that axis."""
    dd = df[df.dataset == dataset]
    numeric_ipcs = {v for v in dd["ipc"] if v != "all"}
    plots: list[tuple[str, Draw]] = [(f"fig_accuracy_{dataset}", lambda p: by_axis(df, dataset, "model", p))]
    if len(numeric_ipcs) > 1:
        plots.append((f"fig_ipc_{dataset}", lambda p: by_ipc(df, dataset, p)))
    if dd["model"].nunique() > 2 and dd["method"].nunique() > 1:
        plots.append((f"fig_heatmap_model_{dataset}", lambda p: heatmap(df, dataset, "model", p)))
    if dd["optimizer"].nunique() > 1:
        plots.append((f"fig_by_optimizer_{dataset}", lambda p: by_axis(df, dataset, "optimizer", p)))
    if dd["loss"].nunique() > 1:
        plots.append((f"fig_by_loss_{dataset}", lambda p: by_axis(df, dataset, "loss", p)))
    if dd["iterations"].nunique() > 1 or dd["seconds"].nunique() > 1:
        plots.append((f"fig_budget_{dataset}", lambda p: budget_curve(df, dataset, p)))
    if dd["steps_offset"].nunique() > 1:
        plots.append((f"fig_steps_offset_{dataset}", lambda p: by_steps_offset(df, dataset, p)))
    return plots


def label_grid_name(ds: DistilledSet) -> str:
    """The file stem of an artifact's label grid."""
    return f"fig_labels_{ds.meta.get('method')}_ipc{ds.meta.get('ipc')}_seed{ds.meta.get('seed')}"
