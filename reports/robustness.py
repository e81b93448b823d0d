"""Robustness from the records that carry a panel: the per-set table (clean, corruptions, attacks, the corruption
error relative to the suite's full-data row, worst architecture and optimizer, IOR / HLR / LRS) and the
long-form frames the robustness figures draw.

Corruption error, after Hendrycks & Dietterich (2019) with the suite's full-data model in AlexNet's place; E is
an error rate (1 - accuracy) on the test split, c runs over the panel's corruptions (per corruption the mean
over its severities, so the ratio equals theirs of sums over severities), S is the scored set, F the full row:

- mCE = mean_c E_c(S) / E_c(F)                                                    (100 = as robust as F)
- relative mCE = sum_c (E_c(S) - E_clean(S)) / sum_c (E_c(F) - E_clean(F))          (the drop, against F's)

The relative error sums before dividing: a full-data model may lose nothing on a mild corruption, which would
leave a per-corruption ratio undefined. Both are means over runs first, percent, and need a full row under the
same protocol (``reports.cells.PROTOCOL``); a missing one is named, never invented.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from tabulate import tabulate

from reports.cells import cell_frame
from reports.exact import exact_mean
from reports.scores import NOTE_SEP, SCORE_KEYS, find_reference, hard_loss, keyed, make_pool, relative_scores
from reports.sensitivity import cross_axis

CORR = "corr:"  # prefix of the per-corruption accuracy columns
TABLE_KEYS = ["method", "ipc", "loss", "model", "optimizer", "augment"]
SHOWN_ALWAYS = ["method", "ipc"]


def panel_frame(records: list[dict[str, Any]], dataset: str) -> pd.DataFrame:
    """One row per finished record of ``dataset`` with a panel: the cell frame's columns (set and protocol) plus
    ``clean_acc``, ``mean_corruption_acc``, ``corr:<name>`` per corruption, ``<attack>@<eps>`` per attack and
    epsilon, and ``attack_clean_acc`` (the attacked subset without attack); empty when no record has a panel."""
    mine = [r for r in records if r["status"] == "ok" and r["config"]["dataset"] == dataset
            and (r.get("metrics") or {}).get("robustness")]
    if not mine:
        return pd.DataFrame()
    extra = []
    for r in mine:
        panel = r["metrics"]["robustness"]
        extra.append({"key": r["key"], **panel["summary"], "attack_clean_acc": panel.get("attack_clean_acc"),
                      **{f"{CORR}{n}": a for n, a in panel.get("corruption_acc", {}).items()}})
    return cell_frame(mine).merge(pd.DataFrame(extra), on="key", how="inner", validate="one_to_one")


def corruption_columns(pf: pd.DataFrame) -> list[str]:
    """The frame's per-corruption columns in panel order."""
    return [c for c in pf.columns if c.startswith(CORR)]


def attack_columns(pf: pd.DataFrame) -> list[str]:
    """``<attack>@<eps>`` columns, by attack then epsilon."""
    cols = [c for c in pf.columns if "@" in c and not c.startswith(CORR)]
    return sorted(cols, key=lambda c: (c.split("@")[0], float(c.split("@")[1])))


def figure_stems(pf: pd.DataFrame, dataset: str) -> list[tuple[str, str, str]]:
    """(kind, file stem, caption) of the robustness figures a panel frame calls for: the corruption heatmap
    where it measured corruptions, the epsilon curves where it attacked."""
    stems = []
    if not pf.empty and corruption_columns(pf):
        stems.append(("corruptions", f"fig_corruptions_{dataset}", "accuracy per method and corruption"))
    if not pf.empty and attack_columns(pf):
        stems.append(("attacks", f"fig_attacks_{dataset}", "accuracy against the attack's epsilon"))
    return stems


def _errors(values: dict[str, float], corr: list[str]) -> tuple[float, list[float]]:
    return 1.0 - values["clean_acc"] / 100.0, [1.0 - values[c] / 100.0 for c in corr]


def corruption_errors(pf: pd.DataFrame, full_method: str = "full") -> pd.DataFrame:
    """Per scored set (``reports.scores.SCORE_KEYS``, means over runs): mCE and relative mCE (percent) against
    the full-data row of the same suite, dataset and protocol, and ``missing`` naming what was not found."""
    cols = [*SCORE_KEYS, "mce", "rel_mce", "missing"]
    corr = corruption_columns(pf)
    if pf.empty or not corr:
        return pd.DataFrame(columns=cols)
    values = ["clean_acc", *corr]
    pools = {v: make_pool(pf.assign(acc=pf[v].astype(float))) for v in values}
    means = pf.groupby(SCORE_KEYS, dropna=False, sort=True)[values].agg(exact_mean).reset_index()
    out = []
    for t in means.to_dict("records"):
        if t["method"] == full_method:
            continue
        target = keyed(t)
        ref: dict[str, float] = {}
        note = None
        for v in values:
            if pd.isna(t[v]):
                continue
            acc, _, note = find_reference(pools[v], target, full_method, None, hard_loss,
                                          "corruption error needs the full-data row")
            if acc is None:
                note = note or f"corruption error: the full-data row has no {v[len(CORR):]} accuracy"
                break
            ref[v] = acc
        mce = rel = None
        here = [c for c in corr if pd.notna(t[c])]
        if note is None and here:
            clean_s, err_s = _errors(t, here)
            clean_f, err_f = _errors(ref, here)
            ratios = [s / f for s, f in zip(err_s, err_f, strict=True) if f > 0]
            mce = 100.0 * math.fsum(ratios) / len(ratios) if len(ratios) == len(here) else None
            drop_f = math.fsum(e - clean_f for e in err_f)
            rel = 100.0 * math.fsum(e - clean_s for e in err_s) / drop_f if drop_f > 0 else None
            if mce is None or rel is None:
                note = "corruption error: the full-data row makes no error on some corruption (ratio undefined)"
        out.append({**{k: t[k] for k in SCORE_KEYS}, "mce": mce, "rel_mce": rel, "missing": note or ""})
    return pd.DataFrame(out, columns=cols)


def _table_keys(pf: pd.DataFrame) -> list[str]:
    """Method and ipc always; loss, model, optimizer and augmentation where the rows vary them."""
    return [k for k in TABLE_KEYS if k in SHOWN_ALWAYS or pf[k].astype(str).nunique() > 1]


def _by_keys(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> dict[tuple[str, ...], dict[str, float]]:
    """Mean of ``columns`` per ``keys`` tuple (spelt as strings), over the rows that have them."""
    if frame.empty:
        return {}
    g = frame.assign(**{k: frame[k].astype(str) for k in keys}).groupby(keys, sort=True, dropna=False)
    return {k if isinstance(k, tuple) else (k,): row for k, row in
            g[columns].agg(lambda v: exact_mean(pd.to_numeric(v, errors="coerce").dropna())).iterrows()}


def _worst(records: list[dict[str, Any]], dataset: str) -> dict[tuple[str, str], list[str]]:
    """(method, ipc) -> [worst architecture, worst optimizer] as 'name acc', from the cross-axis summaries."""
    frame = cell_frame([r for r in records if r["config"]["dataset"] == dataset])
    out: dict[tuple[str, str], list[str]] = {}
    for j, axis in enumerate(("model", "optimizer")):
        for _, r in cross_axis(frame, axis).iterrows():
            cell = out.setdefault((r["method"], str(r["ipc"])), ["-", "-"])
            cell[j] = f"{r[f'worst_{axis}']} {r['worst']:.2f}"
    return out


def _fmt(v: object, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.{digits}f}"


def robustness_table(records: list[dict[str, Any]], dataset: str,
                     pf: pd.DataFrame | None = None) -> tuple[list[list[str]], list[str], list[str]]:
    """Rows, headers and missing-reference notes of the robustness table of ``dataset`` (no rows: no panel);
    ``pf``: its ``panel_frame`` when the caller already has it."""
    pf = panel_frame(records, dataset) if pf is None else pf
    if pf.empty:
        return [], [], []
    keys = _table_keys(pf)
    attacks = attack_columns(pf)
    acc = _by_keys(pf, keys, ["clean_acc", "mean_corruption_acc", *attacks])
    counts = pf.assign(**{k: pf[k].astype(str) for k in keys}).groupby(keys, sort=True).size()
    errors = corruption_errors(pf)
    err = _by_keys(errors, keys, ["mce", "rel_mce"])
    scores = relative_scores(cell_frame([r for r in records if r["config"]["dataset"] == dataset]))
    rel = _by_keys(scores, keys, ["ior", "hlr", "lrs"])
    worst = _worst(records, dataset)
    rows = []
    for k, a in acc.items():
        e, s = err.get(k, {}), rel.get(k, {})
        ref = k[0] == "full"
        rows.append([*k, str(counts[k]), _fmt(a["clean_acc"]), _fmt(a["mean_corruption_acc"]),
                     "ref" if ref else _fmt(e.get("mce"), 1), "ref" if ref else _fmt(e.get("rel_mce"), 1),
                     *(_fmt(a[c]) for c in attacks), *worst.get((k[0], k[1]), ["-", "-"]),
                     _fmt(s.get("ior"), 3), _fmt(s.get("hlr"), 3), _fmt(s.get("lrs"), 3)])
    headers = [*keys, "n", "clean", "mean corr.", "mCE", "rel. mCE", *attacks, "worst model", "worst optimizer",
               "IOR", "HLR", "LRS"]
    notes = sorted({n for m in [*errors["missing"], *scores["missing"]] for n in str(m).split(NOTE_SEP) if n})
    return rows, headers, notes


def robustness_section(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """The leaderboard's robustness table for ``dataset`` with its definitions, missing references and figure
    links; nothing when no record carries a panel."""
    pf = panel_frame(records, dataset)
    rows, headers, notes = robustness_table(records, dataset, pf)
    if not rows:
        return []
    lines = ["### Robustness (accuracy %, mean over runs; attacks on a fixed test subset, eps in pixel units)", "",
             tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), "",
             "mean corr. = mean accuracy over the panel's corruptions; mCE = mean over corruptions of the error "
             "relative to the full-data row's (100 = as robust as training on all data); rel. mCE = the set's "
             "total drop from clean to corrupted error relative to the full-data row's; IOR, HLR, LRS as in the "
             "relative scores (fractions). Worst model / optimizer appear where the suite varies them."]
    if notes:
        lines += ["", "Missing references:", *(f"- {n}" for n in notes)]
    for _, stem, what in figure_stems(pf, dataset):
        lines += ["", f"![{what}]({stem}.png)"]
    return lines
