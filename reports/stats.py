"""Statistics for comparing methods over paired evaluation cells and summarising repeats (numpy, scipy).

Confidence intervals are percentile bootstraps: seeded, so a report regenerates byte for byte. The paired
test is Wilcoxon's signed-rank test (two-sided): accuracy differences between methods are often skewed or
heavy-tailed (one optimizer that diverges for one side), which breaks the paired t-test's normality
assumption at the small n of a suite, while the signed-rank test only assumes symmetry of the differences.
The paired t-test's p-value is reported beside it for readers used to it. Both treat pairs as independent;
cells that share an artifact (several optimizers or evaluation seeds of one distilled set) are not, so
read the p-values as descriptive when a suite has one distillation seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

RESAMPLES = 10_000
LEVEL = 0.95
SEED = 0


def bootstrap_ci(values: np.ndarray | list[float], level: float = LEVEL, resamples: int = RESAMPLES,
                 seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (resampled with replacement, seeded)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_bootstrap_ci(a: np.ndarray | list[float], b: np.ndarray | list[float], level: float = LEVEL,
                        resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """Bootstrap CI of the mean difference ``a - b`` over pairs (pairs are resampled together)."""
    return bootstrap_ci(_diffs(a, b), level, resamples, seed)


def _diffs(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> np.ndarray:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples must have equal lengths, got {x.shape} and {y.shape}")
    return x - y


def _finite(p: float) -> float | None:
    return None if p is None or not math.isfinite(p) else float(p)


def wilcoxon_p(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of ``a - b`` (zero differences dropped, exact for small n
    without ties); 1.0 when every difference is zero, None with no pairs."""
    d = _diffs(a, b)
    if d.size == 0:
        return None
    if not np.any(d != 0):
        return 1.0
    return _finite(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_t_p(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float | None:
    """Two-sided paired t-test p-value; None below two pairs or when equal non-zero differences leave t undefined."""
    d = _diffs(a, b)
    if d.size < 2:
        return None
    if np.all(d == d[0]):  # no spread: t is undefined (or 0/0 when every difference is zero)
        return 1.0 if d[0] == 0 else None
    return _finite(stats.ttest_rel(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).pvalue)


@dataclass(frozen=True)
class PairedSummary:
    """What a comparison reports for a set of pairs (differences in the metric's own units)."""

    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float | None  # Wilcoxon signed-rank
    p_ttest: float | None
    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise_pairs(a: np.ndarray | list[float], b: np.ndarray | list[float], tie: float,
                    resamples: int = RESAMPLES, seed: int = SEED) -> PairedSummary:
    """Mean difference with its bootstrap CI, both p-values and wins/ties/losses (|a - b| < ``tie``: a tie)."""
    d = _diffs(a, b)
    if d.size == 0:
        raise ValueError("summarise_pairs needs at least one pair")
    low, high = paired_bootstrap_ci(a, b, resamples=resamples, seed=seed)
    return PairedSummary(
        n=int(d.size), mean_a=float(np.mean(a)), mean_b=float(np.mean(b)), mean_diff=float(d.mean()),
        ci_low=low, ci_high=high, p_value=wilcoxon_p(a, b), p_ttest=paired_t_p(a, b),
        wins=int((d >= tie).sum()), ties=int((np.abs(d) < tie).sum()), losses=int((d <= -tie).sum()),
    )


def mean_ci(values: np.ndarray | list[float], level: float = LEVEL, resamples: int = RESAMPLES,
            seed: int = SEED) -> dict[str, float | int]:
    """Mean, sample std, n and the bootstrap CI of the mean of repeats (e.g. seeds)."""
    x = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(x, level, resamples, seed)
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if x.size > 1 else 0.0, "n": int(x.size),
            "ci_low": low, "ci_high": high}
