"""2 x 2 max pooling (stride 2) that gives ``nn.MaxPool2d(2)``'s values and gradients, faster in eager CPU code.

PyTorch's CPU max_pool2d is slow on NCHW inputs with few channels: LeNet's two pools took ~29 % of its forward +
backward on 1,024 MNIST images. Here the forward is element-wise maxima of four strided views, and the index of
each window's winner follows max_pool2d's own rule (the first maximum in row-major order; a NaN wins, the last
one if several), so the backward is ATen's own ``max_pool2d_with_indices_backward`` on the same indices: the
same gradient, bit for bit (with forward-mode and vmap rules to match). In inference mode only the maxima are
computed. Compiled graphs and other devices keep ``F.max_pool2d`` (inductor and cuDNN write their own kernels);
where that holds is ``benchmarks.policy.FAST_MAX_POOL_DEVICES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.policy import FAST_MAX_POOL_DEVICES


def _later_wins(first: Tensor, second: Tensor, nan: bool) -> Tensor:
    """Where max_pool2d's scan moves from ``first`` to ``second``: strictly larger, or NaN (looked for only when
    ``nan``: the windows' maxima hold one)."""
    return (second > first) | second.isnan() if nan else second > first


def _corners(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each window's top-left, top-right, bottom-left and bottom-right elements (scan order)."""
    return x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]


def pool_with_indices(x: Tensor) -> tuple[Tensor, Tensor]:
    """Maxima of the 2 x 2 windows of ``x`` (even height and width) and max_pool2d's flat indices (h * W + w)."""
    a, b, c, d = _corners(x)
    top, bottom = torch.maximum(a, b), torch.maximum(c, d)
    out = torch.maximum(top, bottom)  # NaN wherever its window holds one
    nan = bool(out.sum().isnan())  # a NaN makes the sum NaN (so may inf - inf: then the check just runs)
    lower = _later_wins(top, bottom, nan)
    right_top, right_bottom = _later_wins(a, b, nan), _later_wins(c, d, nan)
    right = right_top ^ (lower & (right_top ^ right_bottom))
    h, w = x.shape[-2:]
    corner = torch.arange(0, h, 2, device=x.device)[:, None] * w + torch.arange(0, w, 2, device=x.device)
    return out, torch.add(corner, lower, alpha=w).add_(right)


_POOL: dict[str, Any] = {"fn": pool_with_indices}  # what the eager forward runs (``compiled_pool`` swaps it)


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return _POOL["fn"](x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: tuple[Tensor, Tensor]) -> None:
        (x,), (_, index) = inputs, output
        ctx.mark_non_differentiable(index)
        ctx.save_for_backward(x, index)
        ctx.save_for_forward(index)

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _: Tensor | None) -> Tensor:  # type: ignore[override]
        x, index = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(grad, x, [2, 2], [2, 2], [0, 0], [1, 1], False, index)

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (index,) = ctx.saved_tensors
        return tangent.flatten(-2).gather(-1, index.flatten(-2)).view_as(index), None

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None], x: Tensor) -> tuple[tuple[Tensor, Tensor], tuple[int, int]]:
        """Stacked models (torch.func.vmap): the model dimension joins the batch dimension."""
        x = x.movedim(in_dims[0], 0)
        out, index = _MaxPool2x2.apply(x.flatten(0, 1))
        return (out.unflatten(0, x.shape[:2]), index.unflatten(0, x.shape[:2])), (0, 0)


def max_pool_2x2(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, 2)`` for a 3-d or 4-d ``x`` (odd sizes drop their last row / column, as it does)."""
    if x.device.type not in FAST_MAX_POOL_DEVICES or torch.compiler.is_compiling():
        return F.max_pool2d(x, 2)
    x = x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]
    if torch.is_inference_mode_enabled():  # no gradient of any kind: the maxima alone
        a, b, c, d = _corners(x)
        return torch.maximum(torch.maximum(a, b), torch.maximum(c, d))
    return _MaxPool2x2.apply(x)[0]


@contextmanager
def torch_max_pool(device: str = "cpu") -> Iterator[None]:
    """Within the block, ``max_pool_2x2`` on ``device`` is ``F.max_pool2d`` (benchmarks compare the two)."""
    had = device in FAST_MAX_POOL_DEVICES
    FAST_MAX_POOL_DEVICES.discard(device)
    try:
        yield
    finally:
        if had:
            FAST_MAX_POOL_DEVICES.add(device)


@contextmanager
def compiled_pool() -> Iterator[None]:
    """Within the block, the eager forward runs ``pool_with_indices`` compiled by inductor into fused kernels (the
    same values and indices). Alone it measured 11.0 -> 5.5 ms on LeNet's first pooling of 1,024 MNIST images (one
    core), but in ld's whole outer step 0.98x (``benchmarks.perf.ld_levers``), so nothing enables it by default."""
    before = _POOL["fn"]
    if "compiled" not in _POOL:
        _POOL["compiled"] = torch.compile(pool_with_indices)
    _POOL["fn"] = _POOL["compiled"]
    try:
        yield
    finally:
        _POOL["fn"] = before


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2)`` through ``max_pool_2x2``: no parameters, so state dicts are unchanged."""

    def forward(self, x: Tensor) -> Tensor:
        return max_pool_2x2(x)
