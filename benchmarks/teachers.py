"""Teacher (expert) models: trained once on a dataset's train split, cached, and reused.

A teacher is named by a hash of its configuration (dataset, architecture, seed, epochs, recipe, patience);
its weights are a safetensors file and its record (classes, validation accuracy per epoch, cost) a
JSON sidecar. Asking for the same configuration again loads the cached weights and never retrains.
An early-stopped expert is simply a teacher with fewer epochs; a teacher with ``patience`` trains to its
validation plateau instead (at most ``epochs``) and keeps its best validation checkpoint. A teacher carries its class list,
and using it on data with other classes is refused (RDED's most reported reproducibility failure).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from benchmarks.artifact import write_json_atomic
from benchmarks.cost import count_flops
from benchmarks.data import RealData, load_dataset
from benchmarks.errors import UserError
from benchmarks.metrics import accuracy, val_subset
from benchmarks.paths import cache_dir
from benchmarks.progress import bar
from benchmarks.seeding import generator, seed_global
from benchmarks.spec import stable_hash

TEACHER_VAL_SUBSET = 2000  # validation images a teacher is scored on after each epoch
# The soft-label methods' default teacher (``teacher_epochs = 0``): trained to its validation plateau. The lr
# drops by PLATEAU_FACTOR whenever more than PLATEAU_PATIENCE epochs in a row bring no new best validation
# accuracy (torch's ReduceLROnPlateau); the PLATEAU_DROPS-th plateau ends training, at most PLATEAU_MAX_EPOCHS.
PLATEAU_MAX_EPOCHS = 40
PLATEAU_PATIENCE = 2
PLATEAU_FACTOR = 0.1
PLATEAU_DROPS = 3


@dataclass(frozen=True)
class TeacherConfig:
    """Everything that defines a teacher; its hash names the cached checkpoint."""

    dataset: str = "digits"
    model: str = "convnet3"
    seed: int = 0
    epochs: int = 2
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 128
    weight_decay: float = 5e-4
    patience: int = field(default=0, metadata={"help": "0: train all epochs on a cosine schedule; N: train to the "
                                                       "validation plateau (lr x0.1 after more than N epochs without "
                                                       "a new best, stop at the third plateau, keep the best "
                                                       "checkpoint; epochs is then the maximum)"})

    @property
    def key(self) -> str:
        doc = asdict(self)
        if not self.patience:  # fixed-epoch teachers keep the keys they had before patience existed
            doc.pop("patience")
        return stable_hash(doc)

    @classmethod
    def plateau(cls, dataset: str, model: str, seed: int) -> TeacherConfig:
        """The default teacher: trained to its validation plateau."""
        return cls(dataset, model, seed, PLATEAU_MAX_EPOCHS, patience=PLATEAU_PATIENCE)

    def check(self) -> None:
        """UserError for values no teacher could be trained with."""
        from benchmarks.validate import check_fields

        check_fields(self, "teacher setting")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"teacher {name} must be positive, got {getattr(self, name)}")
        if self.patience < 0:
            raise UserError(f"teacher patience must be 0 (fixed epochs) or a positive number of epochs, got {self.patience}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise UserError(f"teacher lr must be positive and weight_decay 0 or more, got {self.lr} and {self.weight_decay}")


@dataclass
class Teacher:
    """A trained teacher in eval mode, with its record."""

    model: nn.Module
    config: TeacherConfig
    record: dict[str, Any]

    @property
    def key(self) -> str:
        return self.config.key

    @property
    def classes(self) -> list[str]:
        return list(self.record["classes"])

    @property
    def param_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.model.parameters())

    def check_classes(self, data: RealData) -> None:
        if self.classes != list(data.classes):
            raise UserError(f"teacher {self.key} ({self.config.model} on {self.config.dataset}) was trained on classes "
                            f"{self.classes[:5]}..., not {data.name}'s {list(data.classes)[:5]}...: train a teacher on "
                            f"{data.name} (`ddbench teacher train --dataset {data.name}`)")

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """Raw logits for normalised images."""
        return self.model(x).float()


def teacher_dir() -> Path:
    return cache_dir() / "teachers"


def _paths(key: str) -> tuple[Path, Path]:
    d = teacher_dir()
    return d / f"{key}.safetensors", d / f"{key}.json"


def _train(cfg: TeacherConfig, data: RealData, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """Plain supervised training on the train split; validation accuracy after every epoch. With patience,
    the lr drops at each validation plateau, training stops at the PLATEAU_DROPS-th and the best epoch's
    weights are kept."""
    from benchmarks.models import build_model  # timm: loaded when a teacher is built, not when the CLI declares
    from benchmarks.optim import build_optimizer, build_schedule

    seed_global(cfg.seed)
    model = build_model(cfg.model, data.num_classes, data.channels, data.size)[0].to(device).train()
    steps_per_epoch = -(-len(data.train_y) // cfg.batch_size)
    opt = build_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay)
    sched = None if cfg.patience else build_schedule(opt, "cosine", cfg.epochs * steps_per_epoch)
    plateau = ReduceLROnPlateau(opt, mode="max", factor=PLATEAU_FACTOR, patience=cfg.patience,
                                threshold=0.0) if cfg.patience else None
    drops = 0
    gen = generator(cfg.seed)
    vx, vy = val_subset(data, TEACHER_VAL_SUBSET)
    history: list[float] = []
    best: tuple[float, int, dict[str, Tensor]] | None = None
    step, start = 0, time.perf_counter()
    for epoch in range(cfg.epochs):
        batches = torch.randperm(len(data.train_y), generator=gen).split(cfg.batch_size)
        for idx in bar(batches, desc=f"teacher {cfg.model} epoch {epoch + 1}/{cfg.epochs}", unit="step"):
            x = data.normalize(data.train_x[idx].to(device))
            loss = F.cross_entropy(model(x), data.train_y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if sched is not None:
                sched.step_update(step)
        history.append(round(accuracy(model, data, vx, vy, device, "fp32"), 4))
        if plateau is not None:
            if best is None or history[-1] > best[0]:
                best = (history[-1], epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
            lr = opt.param_groups[0]["lr"]
            plateau.step(history[-1])
            drops += opt.param_groups[0]["lr"] < lr
            if drops >= PLATEAU_DROPS:
                break
    kept = len(history)
    if best is not None:
        model.load_state_dict(best[2])
        kept = best[1]
    model.eval()
    probe = data.normalize(data.train_x[:1].to(device))
    flops = count_flops(lambda: model(probe))
    return model, {"config": asdict(cfg), "key": cfg.key, "classes": list(data.classes), "dataset": data.name,
                   "val_acc": history[kept - 1], "val_acc_per_epoch": history, "epochs_trained": len(history),
                   "epochs_kept": kept, "train_s": round(time.perf_counter() - start, 2),
                   "forward_flops_per_image": int(flops),
                   "param_bytes": sum(p.numel() * p.element_size() for p in model.parameters())}


def get_teacher(cfg: TeacherConfig, device: torch.device, data_root: str | None = None,
                data: RealData | None = None) -> Teacher:
    """The cached teacher for ``cfg``, training and caching it first if there is none."""
    from benchmarks.models import build_model

    cfg.check()
    weights, record_path = _paths(cfg.key)
    data = data or load_dataset(cfg.dataset, data_root)
    if weights.exists() and record_path.exists():
        record = json.loads(record_path.read_text())
        model = build_model(cfg.model, len(record["classes"]), data.channels, data.size)[0]
        model.load_state_dict(load_file(str(weights)))
        return Teacher(model.to(device).eval(), cfg, record)
    model, record = _train(cfg, data, device)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_suffix(f".{os.getpid()}.tmp")  # two processes may train the same teacher
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(weights)
    write_json_atomic(record_path, record)
    return Teacher(model, cfg, record)


def load_teacher(key: str, device: torch.device, data_root: str | None = None) -> Teacher:
    """A cached teacher by key (what an online artifact stores)."""
    from benchmarks.validate import safe_name

    _, record_path = _paths(safe_name(key, "teacher key"))
    if not record_path.exists():
        raise UserError(f"no cached teacher {key!r} under {teacher_dir()}: re-create it with `ddbench teacher train` "
                        "and the configuration in the artifact's metadata")
    cfg = TeacherConfig(**json.loads(record_path.read_text())["config"])
    return get_teacher(cfg, device, data_root)


def list_teachers() -> list[dict[str, Any]]:
    """Records of every cached teacher, sorted by dataset, model, epochs, seed."""
    recs = [json.loads(p.read_text()) for p in sorted(teacher_dir().glob("*.json"))] if teacher_dir().exists() else []
    return sorted(recs, key=lambda r: (r["dataset"], r["config"]["model"], r["config"]["epochs"], r["config"]["seed"]))


def label_cost(label_kind: str, label_bytes: int, teacher_key: str | None, batch: int) -> dict[str, Any]:
    """What a set's labels cost: bytes stored (for online labels, the teacher's parameters) and the
    teacher's forward FLOPs per training step (0 for stored labels)."""
    if label_kind != "online" or not teacher_key:
        return {"label_storage_bytes": label_bytes, "teacher_flops_per_step": 0}
    _, record_path = _paths(teacher_key)
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    return {"label_storage_bytes": label_bytes + int(record.get("param_bytes", 0)),
            "teacher_flops_per_step": int(record.get("forward_flops_per_image", 0)) * batch}
