"""The contract every other module builds on: what a cell is, how it is keyed, what a record holds.

One owner for each piece: ``stable_hash`` (the only hash of a configuration, ``KEY_LEN`` hex digits),
``EvalConfig`` and ``Cell`` (what is run), ``Record`` (what is stored; every field documented once in
``RECORD_FIELDS``), ``RECORD_SCHEMA``, and the resolution of the "auto" choices (precision, compile,
stacking, micro-batching) for a device, from the measured tables in ``benchmarks.policy``.

A record's key hashes what was *asked* (``precision = "auto"`` stays "auto"), so a cell has one key on
every machine; what the machine made of the auto choices is kept beside it, in ``execution``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch

from benchmarks import policy
from benchmarks.cost import bf16_supported
from benchmarks.errors import UserError

KEY_LEN = 16
RECORD_SCHEMA = 6
PRECISIONS = ("auto", "fp32", "bf16")


def stable_hash(doc: Any) -> str:
    """The one hash of a JSON-able configuration: sha256 of its sorted JSON, ``KEY_LEN`` hex digits."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:KEY_LEN]


def _opt(default: Any, help: str) -> Any:
    """A config field with its help text (the CLI builds its flags from these)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class EvalConfig:
    """Everything that defines one evaluation (with the artifact, it is the cell)."""

    model: str = _opt("convnet3", "architecture: a zoo name (`ddbench list models`) or any timm name")
    optimizer: str = _opt("momentum", "optimizer (`ddbench list optimizers`)")
    lr: float | None = _opt(None, "learning rate (default: the optimizer's registered one)")
    lr_grid: tuple[float, ...] = _opt((), "multipliers of lr tried and chosen on validation")
    weight_decay: float = _opt(5e-4, "weight decay (not applied to biases and norms)")
    schedule: str = _opt("cosine", "learning-rate schedule over the steps (`ddbench list schedules`)")
    loss: str | dict[str, Any] = _opt("ce", "training loss (`ddbench list losses`)")
    augment: str = _opt("none", "augmentation of each batch (`ddbench list augmentations`)")
    steps: int = _opt(300, "optimizer steps (the training budget)")
    batch_size: int = _opt(256, "examples per step (capped at the set's size)")
    seed: int = _opt(0, "seeds the model's initialisation and the example order")
    precision: str = _opt("auto", "auto (bf16 where the benchmark validated it on this device), fp32 or bf16")
    compile: bool | str = _opt("auto", "torch.compile the model: auto (where it measured to pay), true or false")
    val_size: int = _opt(1000, "size of the fixed validation subset used for selection and reporting")
    steps_from_artifact: bool = _opt(False, "train for the step count the artifact suggests (its hints), if any")
    steps_offset: int = _opt(0, "added to the step count (robustness to the training length)")
    order_seed: int | None = _opt(None, "seeds the example order apart from the initialisation (default: seed)")
    lr_from_artifact: bool = _opt(False, "train with the learning rate the artifact suggests (its hints), if any")
    robustness: dict[str, Any] | None = _opt(None, "robustness panel settings (a suite's [eval.robustness] table, {} "
                                                   "for the dataset family's defaults); None: not measured")
    epochs: int | None = _opt(None, "train for this many passes over the set instead of `steps` (steps = epochs x "
                                    "ceil(N / batch_size), N the set's size); None: use steps")
    weight_decay_all: bool = _opt(False, "weight decay on biases and norm weights too (the papers' torch SGD over "
                                         "all parameters); default: weights only")
    protocol: str | None = _opt(None, "the published protocol this config reproduces (`benchmarks.protocols`; a suite "
                                      "expands it into the other fields); None: none")
    lr_per_architecture: bool = _opt(False, "the fair per-architecture protocol: choose the lr once per dataset, "
                                            "architecture and ipc on validation (lr_grid multipliers, trained on random "
                                            "real images; `benchmarks.tuning`), shared by every set; default: fixed lr")
    max_steps: int | None = _opt(None, "with lr_per_architecture, the training length is chosen too: after the lr, "
                                       "3x the steps while validation gains more than a point, up to this many "
                                       "(`benchmarks.tuning`); None: the config's steps")

    def resolved(self) -> dict[str, Any]:
        """The config with defaults filled in (lr, loss params): what a cell key hashes."""
        d = asdict(self)
        d["lr"] = self.base_lr()
        d["lr_grid"] = list(self.lr_grid)
        d["loss"] = asdict(self.loss_spec())
        return d

    def base_lr(self) -> float:
        from benchmarks.optim import OPTIMIZERS

        return OPTIMIZERS.get(self.optimizer).lr if self.lr is None else float(self.lr)

    def loss_spec(self) -> Any:
        from benchmarks.losses import resolve_loss

        return resolve_loss(self.loss)

    def for_device(self, device: torch.device) -> EvalConfig:
        """The config as it executes on ``device``: ``precision="auto"`` made concrete."""
        return replace(self, precision=resolve_precision(self.precision, device, self.model))

    def check(self) -> None:
        """Raise UserError for values no run could use."""
        from benchmarks.optim import OPTIMIZERS
        from benchmarks.validate import check_fields

        check_fields(self, "evaluation setting")
        for name in ("steps", "batch_size", "val_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be positive, got {getattr(self, name)}")
        if self.epochs is not None and (isinstance(self.epochs, bool) or not isinstance(self.epochs, int)
                                        or self.epochs < 1):
            raise UserError(f"epochs must be a positive integer or unset, got {self.epochs!r}")
        if self.protocol is not None:
            from benchmarks.protocols import PROTOCOLS

            PROTOCOLS.get(self.protocol)
        if self.lr_per_architecture and self.lr_from_artifact:
            raise UserError("lr_per_architecture and lr_from_artifact both choose the lr: set one of them")
        if self.max_steps is not None:
            self._check_max_steps()
        if self.weight_decay < 0:
            raise UserError(f"weight_decay must be 0 or more, got {self.weight_decay}")
        if self.compile not in (True, False, "auto"):
            raise UserError(f"compile must be true, false or \"auto\", got {self.compile!r}")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}; use one of {PRECISIONS}")
        lrs = [*self.lr_grid, self.base_lr()]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in lrs):
            raise UserError(f"learning rates and lr_grid multipliers must be positive finite numbers, got {lrs}")
        OPTIMIZERS.get(self.optimizer)
        self.loss_spec()
        if self.robustness is not None:
            from benchmarks.robustness import RobustnessSpec

            RobustnessSpec.from_dict(self.robustness)

    def _check_max_steps(self) -> None:
        """``max_steps`` lengthens the fair protocol's training: it needs that protocol and a fixed step count."""
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < self.steps:
            raise UserError(f"max_steps must be an integer of at least steps ({self.steps}) or unset, got "
                            f"{self.max_steps!r}")
        if not self.lr_per_architecture:
            raise UserError("max_steps is the fair protocol's training-length search: set lr_per_architecture = true "
                            "too, or leave max_steps out")
        clash = [n for n, on in (("epochs", self.epochs is not None), ("steps_from_artifact", self.steps_from_artifact),
                                 ("steps_offset", self.steps_offset != 0)) if on]
        if clash:
            raise UserError(f"max_steps chooses the step count, and so does {clash[0]}: set one of them")


EVAL_FIELDS = tuple(f.name for f in fields(EvalConfig))


@dataclass(frozen=True)
class Cell:
    """One evaluation: an artifact (dataset, method, params, ipc, distillation budget and seed) and an EvalConfig.

    ``seed`` seeds the distillation; ``eval.seed`` the evaluated model. They are equal unless the
    suite asks for several evaluation repeats per artifact (``eval_seeds``), as the LD paper does."""

    dataset: str
    method: str
    params: dict[str, Any]
    ipc: int | None
    eval: EvalConfig
    iterations: int | None = None
    seed: int | None = None  # None: the evaluation seed
    seconds: float | None = None  # wall-clock cap on the distillation loop (machine-dependent)

    @property
    def distill_seed(self) -> int:
        return self.eval.seed if self.seed is None else self.seed

    @property
    def distill_config(self) -> dict[str, Any]:
        """What defines the artifact: its hash names the cached artifact."""
        return distill_config(self.dataset, self.method, self.params, self.ipc, self.iterations, self.seconds,
                              self.distill_seed)

    @property
    def config(self) -> dict[str, Any]:
        """The full configuration the record key hashes."""
        return {**self.distill_config, "eval": self.eval.resolved()}

    @property
    def key(self) -> str:
        return cell_key(self.config)

    @property
    def distill_key(self) -> str:
        return stable_hash(self.distill_config)


def distill_config(dataset: str, method: str, params: dict[str, Any], ipc: int | None, iterations: int | None,
                   seconds: float | None, seed: int) -> dict[str, Any]:
    """What defines an artifact (a suite cell's or ``ddbench distill``'s): its hash names the cached artifact
    and the folder an interrupted distillation resumes from."""
    return {"dataset": dataset, "method": method, "params": params, "ipc": ipc, "iterations": iterations,
            "seconds": seconds, "seed": seed}


def cell_key(config: dict[str, Any]) -> str:
    """A cell's record key: the stable hash of its full configuration."""
    return stable_hash(config)


# ---- the record ------------------------------------------------------------------------------------

RECORD_FIELDS: dict[str, str] = {
    "key": "cell_key(config): names the record file <key>.json",
    "schema": "RECORD_SCHEMA of the code that wrote it (`ddbench migrate` brings older records up to date)",
    "suite": "the suite's name",
    "suite_hash": "stable hash of the suite definition the record was run under",
    "config": "Cell.config: dataset, method, params, ipc, iterations, seconds, seed, eval (EvalConfig.resolved())",
    "status": "'ok' or 'error'",
    "error": "the error message of a failed cell (null when ok)",
    "error_kind": "for errors: 'cell' (the configuration fails: kept) or 'environment' (retried by the next run)",
    "metrics": "test_acc and val_acc (%), final_loss, diverged, lr (chosen), lr_val_acc (val acc per tried lr), "
               "steps (trained), robustness (when the suite asks for it), lr_tuning (the fair per-architecture "
               "protocol's choice: key, lr, val_acc per lr, grid, ipc, reference set) and steps_tuning (its "
               "training-length choice where max_steps is set: key, lr, steps, val_acc per step count, max_steps)",
    "cost": "wall_s, train_s, test_s (s), flops, train_flops, images_per_s, achieved_flops_per_s, mfu (<= 1), "
            "matmul_peak_flops_per_s (the measured, pinned or datasheet peak), peak_source ('datasheet' dense peak of "
            "a tabled GPU, else 'measured' matmul), mfu_peak_flops_per_s (mfu's denominator: max(peak, achieved)), "
            "mfu_peak_raised (achieved > peak), peak_mem_bytes; energy_j (J, or 'not measured') and energy_source "
            "('rapl', 'nvml' or null); cpu_s (this process's CPU seconds, user + system, for the cell's share of its "
            "block: unlike wall_s, not inflated by other work on the cores or a paused process); cpu_hours, or "
            "gpu_hours, gpu_name, gpu_count (CUDA); distill_wall_s and distill_cpu_s (summed over the processes of "
            "a resumed distillation; cpu null where one kept no CPU clock), label_bytes, label_storage_bytes, "
            "teacher_flops_per_step; robustness (the panel's timings); tuning_s (this "
            "cell's share of the seconds its group spent on the fair protocol's search: running it or waiting for "
            "another run's; ~0 when cached)",
    "execution": "what the machine made of the auto choices: precision, compiled, stacked_models, channels_last",
    "artifact": "the evaluated artifact: hash (content), label_kind, n_images, and for a teacher's labels teacher "
                "(key, model, epochs, val_acc, and patience for a teacher trained to its validation plateau) (null when "
                "distillation failed)",
    "adaptation": "how the architecture was adapted to the data size (stem changes), or null",
    "provenance": "ddbench version, commit, python, torch, timm, kornia, device (with thread count), threads (torch's "
                  "intra-op thread count) and deterministic (whether torch's deterministic algorithms were on)",
}
REQUIRED = ("key", "schema", "suite", "config", "status", "metrics", "cost", "execution", "provenance")
ERROR_KINDS = ("cell", "environment")


def validate_record(record: Any) -> list[str]:
    """Problems with a record's shape (empty when it is valid)."""
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    problems = [f"missing {k!r}" for k in REQUIRED if k not in record]
    if problems:
        return problems
    unknown = sorted(set(record) - set(RECORD_FIELDS))
    if unknown:
        problems.append(f"unknown field(s) {unknown}")
    if record["schema"] != RECORD_SCHEMA:
        problems.append(f"schema {record['schema']!r}, this ddbench writes {RECORD_SCHEMA} (run `ddbench migrate`)")
    if record["status"] not in ("ok", "error"):
        problems.append(f"status must be ok or error, not {record['status']!r}")
    if not isinstance(record["config"], dict) or not isinstance(record["config"].get("eval"), dict):
        return [*problems, "config must be an object with an eval object"]
    if record["key"] != cell_key(record["config"]):
        problems.append("key does not match the hash of its config")
    if record["status"] == "ok":
        for k in ("test_acc", "val_acc"):
            v = record["metrics"].get(k) if isinstance(record["metrics"], dict) else None
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 100:
                problems.append(f"metrics.{k} must be a percentage, got {v!r}")
    elif not record.get("error"):
        problems.append("an error record needs its error message")
    return problems


# ---- the one place where "auto" choices are made for a device --------------------------------------

def resolve_precision(precision: str, device: torch.device, model: str = "") -> str:
    """``auto``: bf16 where the device has fast bf16 and the benchmark validated the architecture."""
    if precision != "auto":
        return precision
    ok = policy.BF16_BY_DEFAULT.get(device.type, False) and model in policy.BF16_VERIFIED and bf16_supported(device)
    return "bf16" if ok else "fp32"


def resolve_compile(flag: bool | str, device: torch.device, images: int, flops_per_image: float,
                    channels_last: bool = False) -> bool:
    """``auto``: compile compute-heavy models where the measured gain covers the compile time (never a model the
    channels-last policy took: its compiled graphs ran no faster than eager ones)."""
    if flops_per_image < policy.HEAVY_FLOPS_PER_IMAGE:
        return False  # a light model's step is per-call overhead, which compiling does not remove
    if flag != "auto":
        return bool(flag)
    if channels_last:
        return False
    return (policy.COMPILE_BY_DEFAULT.get(device.type, False) and images >= policy.COMPILE_MIN_IMAGES and shutil.which(os.environ.get("CXX", "g++")) is not None)


def resolve_micro_batch(device: torch.device, flops_per_image: float, batch_independent: bool) -> int | None:
    """Chunk size of a training batch (gradients accumulated), or None for the whole batch at once."""
    if flops_per_image < policy.HEAVY_FLOPS_PER_IMAGE or not batch_independent:
        return None
    return policy.MICRO_BATCH.get(device.type)


def resolve_channels_last(device: torch.device, depthwise: bool) -> bool:
    """Train in channels-last memory format (and, under ``compile = "auto"``, eager): models with depthwise
    convolutions, where that measured faster."""
    return depthwise and device.type in policy.CHANNELS_LAST_DEPTHWISE_DEVICES


def resolve_eval_batch(device: torch.device, flops_per_image: float) -> int:
    """Test-time batch: the device's cache-sized batch for heavy models, 1024 for light ones."""
    if flops_per_image < policy.HEAVY_FLOPS_PER_IMAGE:
        return policy.LIGHT_EVAL_BATCH
    return policy.EVAL_BATCH.get(device.type, policy.OTHER_EVAL_BATCH)


def resolve_stacking(n_models: int, device: torch.device, allowed: bool) -> bool:
    """Train K models that differ only in seed as one torch.func computation where that measured to pay."""
    return n_models > 1 and allowed and policy.STACKED_BY_DEFAULT.get(device.type, False)
