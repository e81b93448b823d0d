"""Stored tensors <-> [0, 1] pixels: undo (import) or apply (export) a format's normalisation or ZCA
whitening, and refuse tensors that do not look like what the options say they are.

Two detectors guard an import. Tensors that already lie in [0, 1] although the dataset's black pixels
would be negative once normalised are un-normalised pixels (``normalized=False`` says so). Tensors
whose pixel spread is under half the real images', or whose neighbouring pixels are under 0.3 times as
correlated as real images', look ZCA-whitened: kornia's ``eps=0.1`` whitening, the one MTT uses,
shrinks the spread to about a third on MNIST and digits, and full whitening removes the correlation.
A set distilled from noise can trip the second rule; ``whitened=False`` skips the detector.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.formats import Options
from benchmarks.interop.normalization import Stats, StatsTable, resolve_stats
from benchmarks.interop.zca import load_whitening

REFERENCE_IMAGES = 2000  # real train images the detectors compare with
MIN_SPREAD_RATIO = 0.5
MIN_CORRELATION_RATIO = 0.3
OUTSIDE_TOLERANCE = 1e-3  # float error allowed before a value counts as outside [0, 1]


def neighbour_correlation(x: Tensor) -> float:
    """Correlation of horizontally adjacent pixels, each image centred on its own mean."""
    z = x.double() - x.double().mean(dim=(2, 3), keepdim=True)
    a, b = z[..., :, :-1], z[..., :, 1:]
    denom = (a.square().sum() * b.square().sum()).sqrt()
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def _unnormalised_reason(x: Tensor, stats: Stats, data: RealData, what: str) -> str | None:
    black = stats.normalize(torch.zeros(1, data.channels, 1, 1)).flatten()
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and hi <= 1 and bool((black < -0.1).all()):
        return (f"{what} holds values in [{lo:.3g}, {hi:.3g}], but {data.name} images normalised with {stats.source} "
                f"put black at {float(black.min()):.3g}: the tensors look like un-normalised [0, 1] pixels; "
                "if they are, say normalized=false (--not-normalized)")
    return None


def _whitening_reason(pixels: Tensor, data: RealData, what: str) -> str | None:
    real = data.train_x[:REFERENCE_IMAGES]
    spread = float(pixels.std()) / max(float(real.std()), 1e-12)
    corr, corr_real = neighbour_correlation(pixels), neighbour_correlation(real)
    if spread < MIN_SPREAD_RATIO or corr < MIN_CORRELATION_RATIO * corr_real:
        return (f"{what} looks ZCA-whitened (pixel spread {spread:.2f}x the real images', neighbour correlation "
                f"{corr:.2f} vs {corr_real:.2f}); give its whitening (--zca FILE, a mean and matrix), or, if the set "
                "is not whitened, whitened=false (--not-whitened)")
    return None


def _clip(pixels: Tensor, opts: Options, meta: dict[str, Any], what: str) -> Tensor:
    """Refuse a set with too many values outside [0, 1], record how many there were, and clip them."""
    outside = float(((pixels < -OUTSIDE_TOLERANCE) | (pixels > 1 + OUTSIDE_TOLERANCE)).double().mean())
    if outside > opts.max_clipped:
        raise UserError(f"{outside:.0%} of the pixel values in {what} fall outside [0, 1] once stored as they are said to be "
                        f"({meta['undone']}; at most {opts.max_clipped:.0%} allowed): another dataset's statistics, "
                        "a whitened set without --zca, or [0, 1] pixels without --not-normalized")
    meta["clipped_fraction"] = round(outside, 6)
    meta["range_before_clipping"] = [round(float(pixels.min()), 5), round(float(pixels.max()), 5)]
    return pixels.clamp(0, 1).contiguous()


def to_unit_range(x: Tensor, data: RealData, opts: Options, table: StatsTable, codebase: str,
                  what: str) -> tuple[Tensor, dict[str, Any]]:
    """Stored tensors -> [0, 1] pixels plus a record of what was undone (refusing what looks wrong)."""
    if opts.whitened and opts.zca is None:
        raise UserError(f"{what} is whitened: give its whitening with --zca FILE (a mean and matrix)")
    meta: dict[str, Any]
    if opts.zca is not None:
        whitening = load_whitening(opts.zca, x[0].numel())
        pixels, meta = whitening.unwhiten(x), {"undone": "zca whitening", "whitening": whitening.meta}
    elif opts.normalized:
        stats = resolve_stats(data, opts, table, codebase)
        reason = _unnormalised_reason(x, stats, data, what)
        if reason:
            raise UserError(reason)
        pixels, meta = stats.denormalize(x), {"undone": "mean/std normalisation", **stats.as_meta()}
    else:
        pixels, meta = x, {"undone": "nothing (stored as [0, 1] pixels)"}
    clipped = _clip(pixels, opts, meta, what)
    reason = None if opts.zca is not None or opts.whitened is False else _whitening_reason(pixels, data, what)
    if reason:
        raise UserError(reason)
    return clipped, meta


def from_unit_range(x: Tensor, data: RealData, opts: Options, table: StatsTable,
                    codebase: str) -> tuple[Tensor, dict[str, Any]]:
    """[0, 1] pixels -> the tensors a format stores (whitened or normalised) plus a record of what was applied."""
    if opts.zca is not None:
        whitening = load_whitening(opts.zca, x[0].numel())
        return whitening.whiten(x).contiguous(), {"applied": "zca whitening", "whitening": whitening.meta}
    stats = resolve_stats(data, opts, table, codebase)
    return stats.normalize(x).contiguous(), {"applied": "mean/std normalisation", **stats.as_meta()}
