"""Read tensor files from strangers without running their code.

``.pt`` files go through ``torch.load(weights_only=True)`` (tensors, numbers, strings and plain
containers; the only extra globals allowed are numpy's scalar and dtype, which DatasetCondensation's
``res_*.pt`` files hold in their accuracy lists); ``.safetensors`` through safetensors. Anything
else, and anything those refuse, is a one-line ``UserError``: a pickled object is never executed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from benchmarks.errors import UserError

# Numpy scalars pickle as ``multiarray.scalar(dtype, bytes)`` with the dtype rebuilt from its state:
# data, not code. Files written with numpy 1.x name the module ``numpy.core``, numpy 2 ``numpy._core``.
_NUMPY_SCALAR = np._core.multiarray.scalar  # type: ignore[attr-defined]
_NUMERIC_DTYPES = ("Bool", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
                   "Float16", "Float32", "Float64")
SAFE_NUMPY_GLOBALS: list[Any] = [
    _NUMPY_SCALAR,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    np.dtype,
    *(getattr(np.dtypes, f"{name}DType") for name in _NUMERIC_DTYPES),
]


def _refusal(path: Path, err: Exception) -> UserError:
    text = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", text)  # torch words it differently for blocked and unknown modules
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if found:
        why = f"it needs {found.group(1)}, which could run code"
    else:
        why = (detail.group(1) if detail else text.strip().splitlines()[0]).strip()[:160]
    return UserError(f"{path} cannot be loaded safely with torch.load(weights_only=True) ({why}); "
                     "ddbench loads only tensors and plain data, never pickled objects")


def load_torch(path: Path) -> Any:
    """``torch.load(path, weights_only=True, map_location="cpu")`` or a one-line ``UserError``."""
    if not path.is_file():
        raise UserError(f"no file at {path}")
    try:
        with torch.serialization.safe_globals(SAFE_NUMPY_GLOBALS):
            return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises many types here (UnpicklingError, RuntimeError, KeyError, EOFError)
        raise _refusal(path, err) from None


def load_safetensors(path: Path) -> dict[str, Tensor]:
    """All tensors of a ``.safetensors`` file, or a one-line ``UserError``."""
    if not path.is_file():
        raise UserError(f"no file at {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a readable safetensors file ({str(err).splitlines()[0][:160]})") from None


def load_any(path: Path) -> Any:
    """A ``.safetensors`` file as its tensor dict, anything else through ``load_torch``."""
    return load_safetensors(path) if path.suffix == ".safetensors" else load_torch(path)


def single_tensor(obj: Any, path: Path, keys: tuple[str, ...] = ()) -> Tensor:
    """The one tensor a file holds: the object itself, the dict entry under one of ``keys``, or a one-entry dict."""
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, dict):
        for k in keys:
            if isinstance(obj.get(k), Tensor):
                return obj[k]
        tensors = [v for v in obj.values() if isinstance(v, Tensor)]
        if len(tensors) == 1:
            return tensors[0]
        names = ", ".join(repr(k) for k in keys) or "any key"
        raise UserError(f"{path} holds {len(tensors)} tensors; expected one, or one under {names}")
    raise UserError(f"{path} holds a {type(obj).__name__}, expected a tensor")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, to record which file an artifact came from."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
