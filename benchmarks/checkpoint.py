"""Resumable distillation: a long method saves its loop state at safe points, and a distillation of the same
cell that was killed picks up from the last one instead of starting over.

The runner names a folder per cell (``resumable``); a method asks for it with ``current()`` and, where it gets
one, saves with ``save`` and resumes with ``load``. Tensors go to safetensors, everything else to JSON (no
pickles); both are written atomically, so a kill during a save leaves the previous state. A state whose
``fingerprint`` (the method's settings, seed, budget) differs from the run's is ignored, never trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from benchmarks.artifact import write_json_atomic

_FOLDER: ContextVar[Path | None] = ContextVar("ddbench_checkpoint_folder", default=None)
STATE = "state.safetensors"
INFO = "state.json"


@contextlib.contextmanager
def resumable(folder: Path) -> Iterator[None]:
    """Let the distillation run inside this block keep its state in ``folder``; the folder is removed once the
    block finishes without an error (the artifact then exists), and kept when it raises (to resume from)."""
    token = _FOLDER.set(folder)
    try:
        yield
    finally:
        _FOLDER.reset(token)
    shutil.rmtree(folder, ignore_errors=True)


def current() -> Path | None:
    """Where the running distillation may keep its state, or None (not run by a suite: nothing to resume)."""
    return _FOLDER.get()


def save(folder: Path, tensors: dict[str, Tensor], info: dict[str, Any], fingerprint: dict[str, Any]) -> None:
    """Write one state: the tensors first, then the JSON that names them (the JSON is the commit point)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{STATE}.tmp{os.getpid()}"
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    step = int(info["iteration"])
    os.replace(tmp, folder / f"state-{step}.safetensors")
    write_json_atomic(folder / INFO, {"fingerprint": fingerprint, "tensors": f"state-{step}.safetensors", **info})
    for old in folder.glob("state-*.safetensors"):  # earlier states are no longer named by the JSON
        if old.name != f"state-{step}.safetensors":
            old.unlink(missing_ok=True)


def load(folder: Path, fingerprint: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """The saved state if there is a readable one for this very run (same fingerprint), else None."""
    try:
        info = json.loads((folder / INFO).read_text())
        if info.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            return None
        return load_file(str(folder / info["tensors"])), info
    except (OSError, ValueError, KeyError):
        return None


def optimizer_state(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimizer's state as tensors (``prefix/<param>/<name>``) plus its JSON-able rest."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"{prefix}/{idx}/{name}"] = v
            else:
                scalars[f"{idx}/{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, Tensor],
                         rest: dict[str, Any]) -> None:
    """Restore what ``optimizer_state`` saved into ``opt`` (built over the same parameters)."""
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "/"):
            idx, name = key[len(prefix) + 1:].split("/", 1)
            state.setdefault(int(idx), {})[name] = v
    for key, v in rest["scalars"].items():
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def module_state(prefix: str, model: torch.nn.Module) -> dict[str, Tensor]:
    """A module's parameters and buffers as ``prefix/<name>`` tensors."""
    return {f"{prefix}/{k}": v for k, v in model.state_dict().items()}


def load_module_state(prefix: str, model: torch.nn.Module, tensors: dict[str, Tensor]) -> None:
    """Restore what ``module_state`` saved into ``model``."""
    model.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + "/")})
