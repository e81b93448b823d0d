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
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from benchmarks.artifact import write_json_atomic
from benchmarks.cost import SegmentClock
from benchmarks.methods import Budget, budget_loop
from benchmarks.paths import cache_dir

_FOLDER: ContextVar[Path | None] = ContextVar("ddbench_checkpoint_folder", default=None)
STATE = "state.safetensors"
INFO = "state.json"
SAVE_EVERY_S = 60.0  # a plain loop saves after the first iteration that ends this long after its last save


def folder_for(distill_key: str, cache: Path | None = None) -> Path:
    """Where the distillation of the artifact ``distill_key`` keeps its state: one folder per artifact, shared by
    a suite cell and ``ddbench distill`` of the same artifact."""
    return (cache or cache_dir()) / "checkpoints" / distill_key


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


def rng_state(gen: torch.Generator, device: torch.device) -> dict[str, Tensor]:
    """The random state a loop draws from: its own generator, torch's global one (model initialisation,
    augmentation) and, on CUDA, the device's."""
    out = {"gen": gen.get_state(), "torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda_rng"] = torch.cuda.get_rng_state(device)
    return out


def load_rng_state(tensors: dict[str, Tensor], gen: torch.Generator, device: torch.device) -> None:
    """Restore what ``rng_state`` saved."""
    gen.set_state(tensors["gen"])
    torch.set_rng_state(tensors["torch_rng"])
    if "cuda_rng" in tensors:
        torch.cuda.set_rng_state(tensors["cuda_rng"], device)


@dataclass
class LoopState:
    """What a plain distillation loop (image distillation: dc, dsa, dm, mtt, dd) carries from one iteration to
    the next: its learned tensors (restored in place), their optimizers, the method's generator and the loss
    history it appends to. ``resumed_at`` says where a resumed run picked up and ``clock`` its seconds so far (cost only)."""

    learned: dict[str, Tensor]
    optimizers: dict[str, torch.optim.Optimizer]
    gen: torch.Generator
    history: list[float] = field(default_factory=list)
    resumed_at: int = 0
    clock: SegmentClock = field(default_factory=SegmentClock)

    def _device(self) -> torch.device:
        return next(iter(self.learned.values())).device

    def snapshot(self, iteration: int) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors = {f"learned/{k}": v for k, v in self.learned.items()}
        rest = {}
        for name, opt in self.optimizers.items():
            opt_tensors, rest[name] = optimizer_state(f"opt_{name}", opt)
            tensors.update(opt_tensors)
        tensors.update(rng_state(self.gen, self._device()))
        tensors["history"] = torch.tensor(self.history, dtype=torch.float64)  # exact, and NaN-safe unlike JSON
        cpu = self.clock.cpu()
        return tensors, {"iteration": iteration, "optimizers": rest, "wall_s": round(self.clock.wall(), 3),
                         "cpu_s": None if cpu is None else round(cpu, 3)}

    def restore(self, tensors: dict[str, Tensor], info: dict[str, Any]) -> int:
        """Put a saved state back; returns the number of iterations it had done."""
        with torch.no_grad():
            for k, v in self.learned.items():
                v.copy_(tensors[f"learned/{k}"].to(v.device))
        for name, opt in self.optimizers.items():
            load_optimizer_state(f"opt_{name}", opt, tensors, info["optimizers"][name])
        load_rng_state(tensors, self.gen, self._device())
        self.history[:] = tensors["history"].tolist()
        self.resumed_at = int(info["iteration"])
        self.clock.resume(info["wall_s"], info.get("cpu_s"))  # states saved before the CPU clock have none
        return self.resumed_at


def resumable_loop(budget: Budget, iterations: int, state: LoopState, fingerprint: dict[str, Any]) -> Iterator[int]:
    """``budget_loop`` for a loop whose whole carried state is ``state``: a run of the same cell that was killed
    continues from its last save, to the artifact an uninterrupted run gives, bit for bit. The state is saved
    after an iteration once ``SAVE_EVERY_S`` have passed since the last save (saving changes nothing that is
    computed); a ``seconds`` budget starts over, because where it ends depends on speed."""
    folder = current() if budget.seconds is None else None
    saved = load(folder, fingerprint) if folder is not None else None
    done = state.restore(*saved) if saved is not None else 0
    last = time.perf_counter()
    for i in budget_loop(budget, iterations):
        if i < done:
            continue
        yield i
        now = time.perf_counter()  # the body of iteration i has finished
        if folder is not None and i + 1 < iterations and now - last >= SAVE_EVERY_S:
            save(folder, *state.snapshot(i + 1), fingerprint)
            last = now
