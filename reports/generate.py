"""Turn a suite's stored records into ``leaderboard.md``, ``results.csv`` and figures.

A pure function of the records (and of the suite's cells, which select them): the same records in give byte-identical files out (sorted rows,
fixed float formatting, no timestamps, PNGs written without software metadata).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from benchmarks.artifact import load_artifact
from benchmarks.spec import cell_key
from benchmarks.suite import published_row
from reports import figures
from reports.exact import exact_mean, exact_std
from reports.frame import GROUP, load_records, to_frame
from reports.robustness import robustness_section
from reports.robustness_figures import robustness_figures
from reports.sections import cost_section, scores_section, teachers_section, tuning_section


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean ± std and n of test accuracy over seeds (and whatever is not in ``by``)."""
    ok = df[df.status == "ok"]
    g = ok.groupby(by, sort=False, dropna=False)
    out = g.agg(mean=("test_acc", exact_mean), std=("test_acc", exact_std), n=("test_acc", "size"),
                val=("val_acc", exact_mean), wall=("wall_s", exact_mean),
                model_set=("model", frozenset),
                precision=("precision", lambda v: "/".join(sorted({str(x) for x in v})))).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def varied_budgets(df: pd.DataFrame) -> list[str]:
    """The distillation-budget columns a suite varies (a grid axis of iterations or seconds)."""
    return [c for c in ("iterations", "seconds") if df[c].nunique() > 1]


def budget_table(df: pd.DataFrame, budgets: list[str]) -> str:
    """Accuracy per method, ipc and distillation budget, with the artifacts' mean distillation wall time."""
    ok = df[df.status == "ok"]
    s = summarise(df, ["method", "ipc", *budgets])
    wall = ok.groupby(["method", "ipc", *budgets], sort=False, dropna=False)["distill_wall_s"].agg(exact_mean).reset_index()
    s = s.merge(wall, on=["method", "ipc", *budgets], how="left")
    s = s.sort_values(["method", "ipc", *budgets], key=_ipc_key)
    rows = [[r["method"], r["ipc"], *(("-" if pd.isna(r[b]) else f"{r[b]:g}") for b in budgets), f"{r['mean']:.2f}",
             f"{r['std']:.2f}", r["n"], "-" if pd.isna(r["distill_wall_s"]) else f"{r['distill_wall_s']:.1f}"]
            for _, r in s.iterrows()]
    return tabulate(rows, headers=["method", "ipc", *budgets, "test acc", "std", "n", "distill wall (s)"],
                    tablefmt="github", disable_numparse=True)


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


def _published_cell(published: list[dict[str, Any]], dataset: str, method: str, ipc: Any, protocol: str = "-") -> str:
    """A published row's number for this line (``published_row`` decides which row belongs to it)."""
    p = published_row(published, dataset, method, ipc, protocol)
    if p is None:
        return ""
    return f"{p['acc']:.1f}" + (f" ± {p['std']:.1f}" if p.get("std") is not None else "") + f" [{p['ref']}]"


def coverage_line(suite: str, wanted: dict[str, dict[str, Any]], stored: set[str]) -> str:
    """One line saying how much of the suite (its cell configs by key) the report holds, and which methods still
    lack cells; "" when whole."""
    missing = [c for k, c in wanted.items() if k not in stored]
    if not missing:
        return ""
    todo = ", ".join(f"{m} ({n})" for m, n in sorted(Counter(c["method"] for c in missing).items()))
    return (f"**Partial report:** it holds {len(wanted) - len(missing)} of the suite's {len(wanted)} cells; cells "
            f"not run yet, by method: {todo}. `ddbench run {suite}` resumes them; every number below is over the "
            "cells present.")


def summary_table(dd: pd.DataFrame, by_loss: list[str], mine: list[dict[str, Any]], dataset: str) -> list[str]:
    """One dataset's summary by method (and loss / lr / preset) and ipc, best first, with the published value where
    there is one and, when rows average over different architectures (a partial suite), how many each covers."""
    s = summarise(dd, ["method", *by_loss, "ipc"]).sort_values(["ipc", "mean"], key=_ipc_key, ascending=[True, False])
    uneven = s.model_set.nunique() > 1
    rows = [[r.method, *(getattr(r, c) for c in by_loss), r.ipc, f"{r.mean:.2f}", f"{r.std:.2f}", r.n,
             *([len(r.model_set)] if uneven else [])]
            + ([_published_cell(mine, dataset, r.method, r.ipc, getattr(r, "protocol", "-")) or "-"] if mine else [])
            for r in s.itertuples()]
    lines = [tabulate(rows, headers=["method", *by_loss, "ipc", "test acc", "std", "n", *(["models"] if uneven else [])]
                      + (["published"] if mine else []), tablefmt="github")]
    if uneven:
        lines += ["", "Rows average over different sets of architectures (`models` counts each row's), so two rows "
                  "compare only where they cover the same ones; the pivot below gives each architecture's cell."]
    if mine:
        refs = dict.fromkeys((p["ref"], p["source"]) for p in mine)
        lines += ["", "Published numbers (their own budgets and protocols, not re-run here): "
                  + "; ".join(f"[{r}] {src}" for r, src in refs) + "."]
    return lines


def leaderboard(df: pd.DataFrame, records: list[dict[str, Any]], suite: str,
                published: list[dict[str, Any]] | None = None, description: str = "", coverage: str = "") -> str:
    """The suite's leaderboard.md: its description (budget, and why methods rank as they do), how much of the suite
    it holds, then per dataset the summary by method (and loss, when the suite varies it), budgets, the full pivot,
    failures and figures."""
    published = published or []
    lines = [f"# Leaderboard: `{suite}`", "", *([description.strip(), ""] if description.strip() else []),
             *([coverage, ""] if coverage else []),
             "Test accuracy (%) at the final training step, mean ± std over seeds (n = runs). "
             "Hyper-parameters were chosen on validation only. Generated by `ddbench report "
             f"{suite}` from `reports/{suite}/records/`; do not edit by hand.", ""]
    for dataset, dd in df.groupby("dataset", sort=True):
        budgets = varied_budgets(dd)
        over = "models, optimizers, seeds" + (" and distillation budgets" if budgets else "")
        by_loss = [c for c in ("loss", "lr_policy", "protocol") if dd[c].nunique() > 1]  # a row per loss / lr / preset
        title = ", ".join(["method", *by_loss])
        lines += [f"## {dataset}", "", f"### By {title} and budget (mean over {over})", ""]
        lines += summary_table(dd, by_loss, [p for p in published if p["dataset"] == dataset], dataset)
        if budgets:
            lines += ["", "### By method and distillation budget (mean over models, optimizers and seeds)", ""]
            lines.append(budget_table(dd, budgets))
        for section in (scores_section(records, dataset), robustness_section(records, dataset),
                        tuning_section(records, dataset), teachers_section(records, dataset),
                        cost_section(records, dataset)):
            lines += ["", *section] if section else []
        lines += ["", "### By method x model (rows) and optimizer (columns)", "", pivot_table(dd)]
        errors = dd[dd.status == "error"]
        if len(errors):
            lines += ["", f"### Failed cells ({len(errors)})", ""]
            lines.append(tabulate(errors[["method", "ipc", "model", "optimizer", "seed", "error"]].values.tolist(),
                                  headers=["method", "ipc", "model", "optimizer", "seed", "error"], tablefmt="github"))
        lines += ["", f"![accuracy per method and model](fig_accuracy_{dataset}.png)", ""]
        if len({v for v in dd["ipc"] if v != "all"}) > 1:
            lines += [f"![accuracy against images per class](fig_ipc_{dataset}.png)", ""]
        if dd["model"].nunique() > 2 and dd["method"].nunique() > 1:
            lines += [f"![method x architecture heatmap](fig_heatmap_model_{dataset}.png)", ""]
        if dd["optimizer"].nunique() > 1:
            lines += [f"![accuracy by optimizer](fig_by_optimizer_{dataset}.png)", ""]
        if dd["loss"].nunique() > 1:
            lines += [f"![accuracy by loss](fig_by_loss_{dataset}.png)", ""]
        if dd["iterations"].nunique() > 1 or dd["seconds"].nunique() > 1:
            lines += [f"![accuracy against distillation cost](fig_budget_{dataset}.png)", ""]
        if dd["steps_offset"].nunique() > 1:
            lines += [f"![accuracy against the training length](fig_steps_offset_{dataset}.png)", ""]
    lines += ["## Provenance", ""] + provenance_block(records) + [""]
    return "\n".join(lines)


def pivot_table(dd: pd.DataFrame) -> str:
    """Mean ± std (n) per method, ipc, model, loss, augmentation and precision (rows) and optimizer (columns)."""
    policy = [c for c in ("lr_policy", "protocol") if dd[c].nunique() > 1]  # both lr protocols / presets: labelled rows
    full = summarise(dd, GROUP + policy)
    full["cell"] = [f"{m:.2f} ± {s:.2f} ({n})" for m, s, n in zip(full["mean"], full["std"], full["n"], strict=True)]
    piv = full.pivot_table(index=["method", "ipc", "model", "loss", "augment", *policy, "precision"],
                           columns="optimizer", values="cell", aggfunc="first")
    piv = piv.reset_index()
    piv["_ipc"] = piv["ipc"].map(lambda v: 10**9 if v == "all" else int(v))
    piv = piv.sort_values(["_ipc", "method", "model", "loss", "augment"]).drop(columns="_ipc")
    return tabulate(piv.fillna("-").values.tolist(), headers=list(piv.columns), tablefmt="github")


def _ipc_key(col: pd.Series) -> pd.Series:
    if col.name == "ipc":
        return col.map(lambda v: 10**9 if v == "all" else int(v))
    return col


def write_report(suite: str, records_dir: Path, out_dir: Path, cells: list[dict[str, Any]] | None = None,
                 published: list[dict[str, Any]] | None = None, description: str = "") -> list[Path]:
    """Write the suite's report files; returns their paths. With ``cells`` (the suite's cell configs),
    stored records of cells the suite no longer has (an edited suite) are left out of the report and
    counted in it; they stay on disk. ``published``: the suite's literature numbers, shown beside ours."""
    records = load_records(records_dir)
    stale, coverage = 0, ""
    if cells is not None:
        wanted = {cell_key(c): c for c in cells}
        kept = [r for r in records if r["key"] in wanted]
        stale, records = len(records) - len(kept), kept
        coverage = coverage_line(suite, wanted, {r["key"] for r in records})
    out_dir.mkdir(parents=True, exist_ok=True)
    df = to_frame(records)
    csv = out_dir / "results.csv"
    df.to_csv(csv, index=False, float_format="%.6g", lineterminator="\n")
    md = out_dir / "leaderboard.md"
    md.write_text(leaderboard(df, records, suite, published, description, coverage) if records
                  else f"# Leaderboard: `{suite}`\n\nNo records yet.\n")
    if stale:
        md.write_text(md.read_text() + f"\n{stale} stored record(s) in `{Path(records_dir).name}/` belong to cells the "
                      "suite no longer defines (an earlier version of it) and are left out of this report.\n")
    written = [md, csv]
    for dataset in sorted(df["dataset"].unique()):
        for stem, draw in [*figures.suite_figures(df, dataset), *robustness_figures(records, dataset)]:
            draw(out_dir / f"{stem}.png")
            written.append(out_dir / f"{stem}.png")
    grids = []
    for art in sorted((Path(records_dir).parent / "artifacts").glob("*.json")):  # committed artifacts
        ds = load_artifact(art)
        png = out_dir / f"{figures.label_grid_name(ds)}.png"
        figures.label_grid(ds, ds.meta.get("classes") or [str(c) for c in range(ds.num_classes)], png)
        grids.append(f"![labels of {art.stem}]({png.name})")
        written.append(png)
    if grids:
        md.write_text(md.read_text() + "\n".join(["## Base images and their labels (committed artifacts)", "", *grids, ""]))
    return written


def write_suite_report(suite: Any, name: str, records: Path, out: Path) -> list[Path]:
    """A suite's report from its records: cells the suite no longer defines are left out, published rows shown."""
    cells = None if suite is None else [c.config for c in suite.cells()]
    return write_report(name, records, out, cells, None if suite is None else suite.published,
                        "" if suite is None else suite.description)
