"""Turn a suite's stored records into ``leaderboard.md``, ``results.csv`` and figures.

A pure function of the records: the same records in give byte-identical files out (sorted rows,
fixed float formatting, no timestamps, PNGs written without software metadata).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from tabulate import tabulate  # noqa: E402

# results.csv columns: later issues may add columns, never rename these.
CSV_COLUMNS = [
    "suite", "dataset", "method", "ipc", "model", "optimizer", "loss", "augment", "lr", "steps", "precision", "seed",
    "status", "test_acc", "val_acc", "wall_s", "flops", "peak_mem_bytes", "distill_wall_s", "images_per_s",
    "label_kind", "label_bytes", "artifact", "key", "error", "distill_seed",
]
GROUP = ["dataset", "method", "ipc", "model", "optimizer", "loss", "augment", "precision"]


def load_records(records_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(Path(records_dir).glob("*.json"))]


def loss_label(loss: dict[str, Any]) -> str:
    """``kl(T=4)``-style name of a resolved loss; defaults are shown so rows never collide."""
    params = ",".join(f"{k}={v}" for k, v in sorted(loss.get("params", {}).items()))
    return f"{loss['name']}({params})" if params else loss["name"]


def to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per record, with the CSV columns, sorted deterministically."""
    rows = []
    for r in records:
        c, ev, m, cost = r["config"], r["config"]["eval"], r.get("metrics", {}), r.get("cost", {})
        rows.append({
            "suite": r["suite"], "dataset": c["dataset"], "method": c["method"],
            "ipc": c["ipc"] if c["ipc"] is not None else "all", "model": ev["model"], "optimizer": ev["optimizer"],
            "loss": loss_label(ev["loss"]), "augment": ev["augment"], "lr": m.get("lr", ev["lr"]), "steps": m.get("steps", ev["steps"]),
            "precision": ev.get("precision"),
            "seed": ev["seed"], "status": r["status"], "test_acc": m.get("test_acc"), "val_acc": m.get("val_acc"),
            "wall_s": cost.get("wall_s"), "flops": cost.get("flops"), "peak_mem_bytes": cost.get("peak_mem_bytes"),
            "distill_wall_s": cost.get("distill_wall_s"), "images_per_s": cost.get("images_per_s"),
            "label_kind": (r.get("artifact") or {}).get("label_kind"), "label_bytes": cost.get("label_bytes"),
            "artifact": (r.get("artifact") or {}).get("hash"), "key": r["key"], "error": r.get("error"),
            "distill_seed": c.get("seed"),
        })
    df = pd.DataFrame(rows, columns=CSV_COLUMNS)
    df["ipc_sort"] = df["ipc"].map(lambda v: 10**9 if v == "all" else int(v))
    df = df.sort_values(["dataset", "method", "ipc_sort", "model", "optimizer", "loss", "augment", "seed", "key"])
    return df.drop(columns="ipc_sort").reset_index(drop=True)


def _pm(series: pd.Series) -> str:
    vals = series.dropna()
    if len(vals) == 0:
        return "-"
    std = vals.std(ddof=1) if len(vals) > 1 else 0.0
    return f"{vals.mean():.2f} ± {std:.2f} (n={len(vals)})"


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean ± std and n of test accuracy over seeds (and whatever is not in ``by``)."""
    ok = df[df.status == "ok"]
    g = ok.groupby(by, sort=False, dropna=False)
    out = g.agg(mean=("test_acc", "mean"), std=("test_acc", "std"), n=("test_acc", "size"),
                val=("val_acc", "mean"), wall=("wall_s", "mean")).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def provenance_block(records: list[dict[str, Any]]) -> list[str]:
    def uniq(path: list[str]) -> str:
        vals = set()
        for r in records:
            v: Any = r
            for p in path:
                v = (v or {}).get(p)
            vals.add(str(v))
        return ", ".join(sorted(vals))

    digest = hashlib.sha256("".join(sorted(r["key"] for r in records)).encode()).hexdigest()[:16]
    return [
        f"- records: {len(records)} ({sum(r['status'] == 'ok' for r in records)} ok, "
        f"{sum(r['status'] == 'error' for r in records)} error); record-set hash `{digest}`",
        f"- suite hash: {uniq(['suite_hash'])}",
        f"- ddbench commit: {uniq(['provenance', 'commit'])}",
        f"- versions: torch {uniq(['provenance', 'torch'])}; timm {uniq(['provenance', 'timm'])}; "
        f"kornia {uniq(['provenance', 'kornia'])}; python {uniq(['provenance', 'python'])}",
        f"- device: {uniq(['provenance', 'device'])}",
    ]


def leaderboard(df: pd.DataFrame, records: list[dict[str, Any]], suite: str) -> str:
    lines = [f"# Leaderboard: `{suite}`", "",
             "Test accuracy (%) at the final training step, mean ± std over seeds (n = runs). "
             "Hyper-parameters were chosen on validation only. Generated by `ddbench report "
             f"{suite}` from `reports/{suite}/records/`; do not edit by hand.", ""]
    for dataset, dd in df.groupby("dataset", sort=True):
        lines += [f"## {dataset}", "", "### By method and budget (mean over models, optimizers and seeds)", ""]
        s = summarise(dd, ["method", "ipc"]).sort_values(["ipc", "mean"], key=_ipc_key, ascending=[True, False])
        lines.append(tabulate([[r.method, r.ipc, f"{r.mean:.2f}", f"{r.std:.2f}", r.n] for r in s.itertuples()],
                              headers=["method", "ipc", "test acc", "std", "n"], tablefmt="github"))
        lines += ["", "### By method x model (rows) and optimizer (columns)", ""]
        full = summarise(dd, GROUP)
        full["cell"] = [f"{m:.2f} ± {s:.2f} ({n})" for m, s, n in zip(full["mean"], full["std"], full["n"], strict=True)]
        piv = full.pivot_table(index=["method", "ipc", "model", "loss", "augment", "precision"], columns="optimizer",
                               values="cell", aggfunc="first")
        piv = piv.reset_index()
        piv["_ipc"] = piv["ipc"].map(lambda v: 10**9 if v == "all" else int(v))
        piv = piv.sort_values(["_ipc", "method", "model", "loss", "augment"]).drop(columns="_ipc")
        lines.append(tabulate(piv.fillna("-").values.tolist(), headers=list(piv.columns), tablefmt="github"))
        errors = dd[dd.status == "error"]
        if len(errors):
            lines += ["", f"### Failed cells ({len(errors)})", ""]
            lines.append(tabulate(errors[["method", "ipc", "model", "optimizer", "seed", "error"]].values.tolist(),
                                  headers=["method", "ipc", "model", "optimizer", "seed", "error"], tablefmt="github"))
        lines += ["", f"![accuracy per method and model](fig_accuracy_{dataset}.png)", ""]
    lines += ["## Provenance", ""] + provenance_block(records) + [""]
    return "\n".join(lines)


def _ipc_key(col: pd.Series) -> pd.Series:
    if col.name == "ipc":
        return col.map(lambda v: 10**9 if v == "all" else int(v))
    return col


def figure(df: pd.DataFrame, dataset: str, path: Path) -> None:
    """Grouped bars: test accuracy per model, one bar per method@ipc, std over optimizers and seeds."""
    s = summarise(df[df.dataset == dataset], ["method", "ipc", "model"])
    s["label"] = [f"{m}@{i}" for m, i in zip(s["method"], s["ipc"], strict=True)]
    order = s.assign(k=s["ipc"].map(lambda v: 10**9 if v == "all" else int(v))).sort_values(["k", "method"])
    labels = list(dict.fromkeys(order["label"]))
    models = sorted(s["model"].unique())
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(models) * max(1, len(labels)) / 3), 4), dpi=100)
    width = 0.8 / max(1, len(labels))
    for j, lab in enumerate(labels):
        sub = s[s.label == lab].set_index("model").reindex(models)
        xs = [i + j * width for i in range(len(models))]
        ax.bar(xs, sub["mean"].fillna(0), width, yerr=sub["std"].fillna(0), label=lab, capsize=2)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(models))], models)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{dataset}: test accuracy per method and model\n(mean ± std over optimizers and seeds)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def write_report(suite: str, records_dir: Path, out_dir: Path) -> list[Path]:
    """Write the suite's report files; returns their paths."""
    records = load_records(records_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = to_frame(records)
    csv = out_dir / "results.csv"
    df.to_csv(csv, index=False, float_format="%.6g", lineterminator="\n")
    md = out_dir / "leaderboard.md"
    md.write_text(leaderboard(df, records, suite) if records else f"# Leaderboard: `{suite}`\n\nNo records yet.\n")
    written = [md, csv]
    for dataset in sorted(df["dataset"].unique()):
        png = out_dir / f"fig_accuracy_{dataset}.png"
        figure(df, dataset, png)
        written.append(png)
    return written
