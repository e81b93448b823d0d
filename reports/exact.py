"""Order-independent summaries: the same records give the same digits whatever order they are read in."""

from __future__ import annotations

import math

import pandas as pd


def exact_mean(values: pd.Series) -> float:
    """The mean with an exactly rounded sum (math.fsum): independent of the order the records come in."""
    vals = [float(v) for v in values if pd.notna(v)]
    return math.fsum(vals) / len(vals) if vals else float("nan")


def exact_std(values: pd.Series) -> float:
    """Sample standard deviation (ddof 1) computed with exact sums; nan for fewer than two values."""
    vals = [float(v) for v in values if pd.notna(v)]
    if len(vals) < 2:
        return float("nan")
    m = math.fsum(vals) / len(vals)
    return math.sqrt(math.fsum((v - m) ** 2 for v in vals) / (len(vals) - 1))
