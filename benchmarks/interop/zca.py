"""ZCA whitening as MTT, DATM and DD-Ranking (``use_zca``) apply it, read from a file the user gives.

Those codebases fit ``kornia.enhance.ZCAWhitening(eps=0.1)`` on the train split as [0, 1] pixels
(no mean/std normalisation) and store whitened tensors: ``w = (x - mean) @ T`` on images flattened
to C*H*W values. The whitening file (``.safetensors``, or ``.pt`` read with weights_only) holds the
mean under ``mean`` or ``mean_vector`` ([D] or [1, D]) and the matrix under ``transform`` or
``transform_matrix`` ([D, D]), optionally its inverse under ``transform_inv``, which are kornia's
attribute names: ``{k: getattr(zca, k) for k in ("mean_vector", "transform_matrix", "transform_inv")}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks.errors import UserError
from benchmarks.interop.safe_load import load_any, sha256

_MEAN_KEYS = ("mean", "mean_vector")
_MATRIX_KEYS = ("transform", "transform_matrix")
_INVERSE_KEYS = ("transform_inv", "inverse")


@dataclass(frozen=True)
class Whitening:
    """A fitted ZCA transform on flattened [0, 1] images, with its inverse."""

    mean: Tensor  # [D]
    transform: Tensor  # [D, D]
    inverse: Tensor  # [D, D]
    meta: dict[str, Any]

    def whiten(self, x: Tensor) -> Tensor:
        """[N, C, H, W] pixels -> whitened tensors of the same shape."""
        flat = x.reshape(len(x), -1).double()
        return ((flat - self.mean) @ self.transform).reshape(x.shape).to(x.dtype)

    def unwhiten(self, w: Tensor) -> Tensor:
        """Whitened tensors -> pixels (not yet clipped to [0, 1])."""
        flat = w.reshape(len(w), -1).double()
        return (flat @ self.inverse + self.mean).reshape(w.shape).to(w.dtype)


def _pick(doc: dict[str, Any], keys: tuple[str, ...]) -> Tensor | None:
    for k in keys:
        if isinstance(doc.get(k), Tensor):
            return doc[k]
    return None


def load_whitening(path: Path, dim: int) -> Whitening:
    """Read a whitening file for images of ``dim`` = C*H*W values and check its shapes."""
    doc = load_any(path)
    if not isinstance(doc, dict):
        raise UserError(f"{path} holds a {type(doc).__name__}; a whitening file is a dict with "
                        f"{_MEAN_KEYS[0]!r} and {_MATRIX_KEYS[0]!r}")
    mean, matrix = _pick(doc, _MEAN_KEYS), _pick(doc, _MATRIX_KEYS)
    if mean is None or matrix is None:
        raise UserError(f"{path} needs a mean ({' or '.join(_MEAN_KEYS)}) and a matrix ({' or '.join(_MATRIX_KEYS)}); "
                        f"it has {sorted(doc)}")
    mean = mean.double().reshape(-1)
    matrix = matrix.double()
    if mean.numel() != dim or tuple(matrix.shape) != (dim, dim):
        raise UserError(f"{path} whitens {mean.numel()} values per image with a {tuple(matrix.shape)} matrix, "
                        f"but these images have {dim} (C*H*W)")
    inverse = _pick(doc, _INVERSE_KEYS)
    if inverse is None:
        try:
            inverse = torch.linalg.inv(matrix)
        except RuntimeError:
            raise UserError(f"the whitening matrix in {path} is singular; add its inverse as 'transform_inv'") from None
    elif tuple(inverse.shape) != (dim, dim):
        raise UserError(f"{path}: transform_inv is {tuple(inverse.shape)}, expected {(dim, dim)}")
    if not (torch.isfinite(mean).all() and torch.isfinite(matrix).all() and torch.isfinite(inverse).all()):
        raise UserError(f"{path} holds non-finite values")
    return Whitening(mean, matrix, inverse.double(), {"file": path.name, "sha256": sha256(path), "dim": dim})
