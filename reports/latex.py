"""Summary tables as LaTeX for papers: pandas' ``Styler.to_latex`` with booktabs rules, the best value of each
column (within each row group) in bold, and mean and std as ``$a \\pm b$``. Needs ``\\usepackage{booktabs}``.

The output is a pure function of the frame: rows keep the frame's order, numbers use fixed digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

BEST = ("max", "min")


def _is_missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _cell(mean: object, std: object, digits: int, bold: bool) -> str:
    if _is_missing(mean):
        return "--"
    body = f"{float(mean):.{digits}f}"
    body = rf"\mathbf{{{body}}}" if bold else body
    if std is not None and not _is_missing(std):
        spread = f"{float(std):.{digits}f}"
        body += r" \pm " + (rf"\mathbf{{{spread}}}" if bold else spread)
    return f"${body}$"


def _best_mask(values: pd.Series, groups: pd.Series, best: str, digits: int) -> pd.Series:
    """True where a value equals (at the printed precision) the best of its row group."""
    shown = pd.to_numeric(values, errors="coerce").round(digits)
    target = shown.groupby(groups, sort=False).transform(best)
    return shown.notna() & (shown == target)


def to_latex(df: pd.DataFrame, values: Mapping[str, str | None], text: list[str] | None = None,
             best: Mapping[str, str] | None = None, group_by: list[str] | None = None, digits: int = 2,
             caption: str | None = None, label: str | None = None) -> str:
    """A LaTeX table of ``df``: the ``text`` columns (escaped), then one column per ``values`` item, mean
    column -> its std column (or None), printed ``$mean \\pm std$``. In each value column the best entry
    (``best[col]`` "max" (default) or "min") of every row group (``group_by`` columns; else the whole table) is bold."""
    text = list(text if text is not None else [c for c in df.columns if c not in values and c not in
                                                  {s for s in values.values() if s}])
    best = dict(best or {})
    bad = [c for c in [*text, *values, *(s for s in values.values() if s), *(group_by or [])] if c not in df.columns]
    if bad:
        raise ValueError(f"to_latex: no column {bad[0]!r} in the frame")
    wrong = [k for k, v in best.items() if k not in values or v not in BEST]
    if wrong:
        raise ValueError(f"to_latex: best[{wrong[0]!r}] must name a value column and be one of {BEST}")
    frame = df.reset_index(drop=True)
    groups = (frame[group_by].astype(str).agg("\x1f".join, axis=1) if group_by
              else pd.Series(["all"] * len(frame), index=frame.index))
    shown = pd.DataFrame({c: frame[c].map(lambda v: "--" if _is_missing(v) else str(v)) for c in text},
                         index=frame.index)
    for col, std in values.items():
        mask = _best_mask(frame[col], groups, best.get(col, "max"), digits)
        shown[col] = [_cell(m, None if std is None else s, digits, bool(b))
                      for m, s, b in zip(frame[col], frame[std] if std else [None] * len(frame), mask, strict=True)]
    styler = shown.style.hide(axis="index")
    styler = styler.format(escape="latex", subset=text).format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, column_format="l" * len(text) + "r" * len(values), caption=caption,
                           label=label, position_float="centering" if caption or label else None)


def summary_latex(summary: pd.DataFrame, text: list[str], group_by: list[str] | None = None, digits: int = 2,
                  caption: str | None = None, label: str | None = None) -> str:
    """``reports.generate.summarise``'s output (mean, std, n per group) as LaTeX: ``text`` columns, then
    "test acc" as ``$mean \\pm std$`` (best bold within ``group_by``) and n."""
    frame = summary[[*text, "mean", "std", "n"]].rename(columns={"mean": "test acc"})
    return to_latex(frame, {"test acc": "std"}, text=[*text, "n"], group_by=group_by, digits=digits,
                    caption=caption, label=label)


def pivot_latex(summary: pd.DataFrame, index: list[str], columns: str, digits: int = 2,
                caption: str | None = None, label: str | None = None) -> str:
    """A ``summarise`` frame pivoted to one ``$mean \\pm std$`` column per value of ``columns`` (e.g. one per
    optimizer), rows ``index``, the best row of each column in bold."""
    means = summary.pivot_table(index=index, columns=columns, values="mean", aggfunc="first", sort=True)
    stds = summary.pivot_table(index=index, columns=columns, values="std", aggfunc="first", sort=True)
    heads = [str(c) for c in means.columns]
    frame = pd.concat([means.set_axis(heads, axis=1), stds.set_axis([f"{h} std" for h in heads], axis=1)],
                      axis=1).reset_index()
    return to_latex(frame, {h: f"{h} std" for h in heads}, text=index, digits=digits, caption=caption, label=label)
