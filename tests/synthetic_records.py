"""Small hand-made records in the stored format, for tests of the report layer (no training involved)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from benchmarks.spec import RECORD_SCHEMA

LOSS_PARAMS: dict[str, dict[str, Any]] = {"ce": {"label_smoothing": 0.0}, "soft_ce": {}, "gift": {"alpha": 0.1, "w": 0.1},
                                          "kl": {"T": 1.0, "t2": False}}


def record(method: str, acc: float, *, suite: str = "synth", dataset: str = "digits", ipc: int | None = 10,
           model: str = "convnet3", optimizer: str = "adam", loss: str = "ce", loss_params: dict[str, Any] | None = None,
           augment: str = "none", seed: int = 0, steps: int = 200, steps_offset: int = 0, lr: float = 0.001,
           lr_grid: list[float] | None = None, label_kind: str = "hard", lr_val_acc: dict[str, float] | None = None,
           chosen_lr: float | None = None, status: str = "ok", lr_per_architecture: bool = False) -> dict[str, Any]:
    """One record as ``benchmarks.runner.make_record`` writes it, with only the fields reports read."""
    ev: dict[str, Any] = {"model": model, "optimizer": optimizer, "lr": lr, "lr_grid": list(lr_grid or []),
                          "weight_decay": 5e-4, "schedule": "cosine",
                          "loss": {"name": loss, "params": dict(LOSS_PARAMS.get(loss, {}) if loss_params is None
                                                                else loss_params)},
                          "augment": augment, "steps": steps, "batch_size": 64, "seed": seed, "precision": "fp32",
                          "compile": "auto", "val_size": 1000, "steps_from_artifact": False,
                          "lr_per_architecture": lr_per_architecture}
    if steps_offset:
        ev["steps_offset"] = steps_offset
    config = {"dataset": dataset, "method": method, "params": {}, "ipc": ipc, "iterations": None, "seed": seed, "eval": ev}
    key = hashlib.sha256(json.dumps([suite, config], sort_keys=True).encode()).hexdigest()[:20]
    chosen = lr if chosen_lr is None else chosen_lr
    metrics = {"test_acc": acc, "val_acc": acc, "lr": chosen, "steps": max(1, steps + steps_offset),
               "lr_val_acc": lr_val_acc or {str(chosen): acc}} if status == "ok" else {}
    return {"key": key, "schema": RECORD_SCHEMA, "suite": suite, "suite_hash": "0" * 16, "config": config, "status": status,
            "error": None if status == "ok" else "RuntimeError: boom", "metrics": metrics, "cost": {},
            "execution": {"precision": "fp32"} if status == "ok" else {},
            "artifact": {"hash": key[:16], "label_kind": label_kind, "n_images": 10}, "adaptation": "none",
            "provenance": {}}
