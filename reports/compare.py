"""Compare two methods (or method:loss variants) of one suite over the cells they share, with statistics.

A side is ``method`` or ``method:loss``, the loss named as in the report (``gift``, ``kl``: the part of the
loss label before any "(") or by its full label (``kl(T=4.0,t2=False)``) when a suite has several. Cells pair
when they agree on everything but the method and loss: dataset, ipc, the evaluation protocol
(``reports.cells.PROTOCOL``) and the repeat (seeds, distillation budget). When neither side names a loss,
the loss is part of the pairing too (each loss against the same loss).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from benchmarks.errors import UserError, suggest
from reports.cells import PROTOCOL, REPEAT, key_strings, ok_rows
from reports.stats import LEVEL, RESAMPLES, SEED, summarise_pairs

TIE = 0.05  # accuracy points: smaller differences count as ties
METRIC = "test_acc"
TEST = "Wilcoxon signed-rank, two-sided (paired t-test shown beside it)"


@dataclass(frozen=True)
class Variant:
    """One side of a comparison: a method, optionally restricted to one loss."""

    method: str
    loss: str | None = None

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``"rded"`` or ``"rded:gift"``."""
        method, _, loss = text.strip().partition(":")
        if not method or (_ and not loss):
            raise UserError(f"{text!r} is not a method or method:loss (e.g. rded or rded:gift)")
        return cls(method, loss or None)

    def __str__(self) -> str:
        return self.method if self.loss is None else f"{self.method}:{self.loss}"


def variants_present(df: pd.DataFrame) -> list[str]:
    """Every method and method:loss name the frame can compare."""
    pairs = df[["method", "loss_name"]].drop_duplicates()
    return sorted(set(pairs["method"]) | {f"{m}:{n}" for m, n in zip(pairs["method"], pairs["loss_name"], strict=True)})


def select(df: pd.DataFrame, v: Variant) -> pd.DataFrame:
    """The frame's rows of one side; an unknown method or loss, or a loss name that stands for several
    loss settings, is a user error naming what is there."""
    rows = df[df["method"] == v.method]
    if rows.empty:
        present = variants_present(df)
        raise UserError(f"no records of {str(v)!r}{suggest(str(v), present)} in this suite; "
                        f"it has {', '.join(present)}")
    if v.loss is None:
        return rows
    picked = rows[(rows["loss_name"] == v.loss) | (rows["loss"] == v.loss)]
    if picked.empty:
        present = sorted(set(rows["loss_name"]) | set(rows["loss"]))
        raise UserError(f"{v.method} has no records with loss {v.loss!r}; its losses here: {', '.join(present)}")
    labels = sorted(set(picked["loss"]))
    if len(labels) > 1:
        raise UserError(f"{v} stands for several loss settings ({', '.join(labels)}): "
                        f"name one, e.g. {v.method}:{labels[0]}")
    return picked


def pair_columns(df: pd.DataFrame, a: Variant, b: Variant) -> list[str]:
    """The columns two cells must share to pair: all but method and loss (loss too when no side names one)."""
    cols = ["dataset", "ipc", *PROTOCOL, *REPEAT]
    if a.loss is None and b.loss is None:
        cols.insert(2, "loss")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"compare needs reports.cells.cell_frame's columns; missing {missing}")
    return cols


def _side(df: pd.DataFrame, v: Variant, cols: list[str]) -> pd.DataFrame:
    rows = select(df, v).copy()
    rows["_key"] = key_strings(rows, cols)
    dup = rows[rows["_key"].duplicated(keep=False)]
    if len(dup):
        losses = sorted(set(dup["loss"]))
        hint = f"; name a loss, e.g. {v.method}:{dup['loss_name'].iloc[0]}" if len(losses) > 1 else ""
        raise UserError(f"{v} has {len(dup)} records for the same cell (losses: {', '.join(losses)}){hint}")
    return rows.set_index("_key")


def _unpaired(rows: pd.DataFrame, keys: list[Any], varying: list[str]) -> list[dict[str, Any]]:
    out = rows.loc[keys, varying] if keys else rows.iloc[:0][varying]
    return [{k: _plain(v) for k, v in r.items()} for r in out.to_dict("records")]


def _plain(v: Any) -> Any:
    """JSON-friendly scalars (numpy numbers to Python, NaN to None)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def compare(df: pd.DataFrame, a: str, b: str, by: list[str] | None = None, tie: float = TIE,
            resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """Paired comparison of ``a`` against ``b`` on ``df`` (a ``reports.cells.cell_frame``): mean difference
    a - b of test accuracy (points) with its 95% bootstrap CI, Wilcoxon and paired-t p-values,
    wins/ties/losses, the cells only one side has, and one row per group of ``by`` columns."""
    va, vb = Variant.parse(a), Variant.parse(b)
    if va == vb:
        raise UserError(f"A and B are both {va}: compare two different methods or variants")
    ok = ok_rows(df)
    cols = pair_columns(ok, va, vb)
    by = list(by or [])
    bad = [c for c in by if c not in cols]
    if bad:
        raise UserError(f"cannot group by {bad[0]!r}{suggest(bad[0], cols)}; group by any of {', '.join(cols)}")
    sa, sb = _side(ok, va, cols), _side(ok, vb, cols)
    shared = sorted(set(sa.index) & set(sb.index))
    if not shared:
        raise UserError(f"{va} and {vb} share no cells (same dataset, ipc, protocol and seeds) in these records")
    varying = [c for c in cols if ok.loc[ok["method"].isin([va.method, vb.method]), c].astype(str).nunique() > 1]
    pairs = pd.DataFrame({"a": sa.loc[shared, METRIC].astype(float).to_numpy(),
                          "b": sb.loc[shared, METRIC].astype(float).to_numpy()})
    for c in by:
        pairs[c] = sa.loc[shared, c].to_numpy()
    groups = []
    if by:
        for values, g in pairs.groupby(by, sort=True, dropna=False):
            values = values if isinstance(values, tuple) else (values,)
            groups.append({"group": {c: _plain(v) for c, v in zip(by, values, strict=True)},
                           **summarise_pairs(g["a"], g["b"], tie, resamples, seed).to_dict()})
    return {
        "suite": sorted(set(ok["suite"])), "datasets": sorted(set(sa.loc[shared, "dataset"])),
        "a": str(va), "b": str(vb), "metric": f"{METRIC} (%)", "tie": tie, "level": LEVEL,
        "bootstrap": {"resamples": resamples, "seed": seed}, "test": TEST,
        "paired_on": cols, "varying": varying, "by": by,
        "overall": summarise_pairs(pairs["a"], pairs["b"], tie, resamples, seed).to_dict(),
        "groups": groups,
        "only_a": _unpaired(sa, sorted(set(sa.index) - set(shared)), varying),
        "only_b": _unpaired(sb, sorted(set(sb.index) - set(shared)), varying),
    }


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _row(label: str, s: dict[str, Any]) -> list[str]:
    return [label, str(s["n"]), f"{s['mean_a']:.2f}", f"{s['mean_b']:.2f}", f"{s['mean_diff']:+.2f}",
            f"[{s['ci_low']:+.2f}, {s['ci_high']:+.2f}]", _p(s["p_value"]), _p(s["p_ttest"]),
            f"{s['wins']}/{s['ties']}/{s['losses']}"]


def _cells(rows: list[dict[str, Any]]) -> list[str]:
    return [", ".join(f"{k}={v}" for k, v in r.items()) or "(one cell)" for r in rows]


def to_markdown(result: dict[str, Any]) -> str:
    """The comparison as Markdown: a table (overall row, then one per group) and the unpaired cells."""
    a, b = result["a"], result["b"]
    level = int(round(result["level"] * 100))
    lines = [f"## {a} vs {b} ({', '.join(result['suite'])}: {', '.join(result['datasets'])})", "",
             "Test accuracy (%) over cells paired on everything but the method"
             + (" and loss" if "loss" not in result["paired_on"] else "")
             + " (dataset, ipc, evaluation protocol, seeds"
             + (f"; varying here: {', '.join(result['varying'])}" if result["varying"] else "") + "). "
             f"A - B with a {level}% percentile bootstrap CI over pairs ({result['bootstrap']['resamples']:,} "
             f"resamples, seed {result['bootstrap']['seed']}); p: {result['test']}; "
             f"W/T/L: A wins / ties (|A - B| < {result['tie']} points) / losses.", ""]
    rows = [_row("all", result["overall"])]
    rows += [_row(", ".join(f"{k}={v}" for k, v in g["group"].items()), g) for g in result["groups"]]
    lines.append(tabulate(rows, headers=["cells", "n", f"A = {a}", f"B = {b}", "A - B", f"{level}% CI",
                                         "p (Wilcoxon)", "p (t)", "W/T/L"],
                          tablefmt="github", disable_numparse=True))
    for side, key in ((a, "only_a"), (b, "only_b")):
        cells = _cells(result[key])
        lines += ["", f"Cells only {side} has ({len(cells)}):" + ("" if cells else " none")]
        lines += [f"- {c}" for c in cells]
    return "\n".join(lines) + "\n"


def to_json(result: dict[str, Any]) -> str:
    """The comparison as sorted, indented JSON (for scripts)."""
    return json.dumps(result, indent=1, sort_keys=True) + "\n"
