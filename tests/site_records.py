"""Hand-made suite records for the leaderboard and site tests (the shape benchmarks.runner.make_record writes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.spec import RECORD_SCHEMA, cell_key


def fake_record(suite: str, method: str, acc: float | None, *, dataset: str = "digits", ipc: int | None = 1,
                seed: int = 0, label_kind: str = "hard", model: str = "lenet", robustness: dict[str, Any] | None = None,
                distill_s: float = 1.5, wall_s: float = 2.5, label_bytes: int = 80) -> dict[str, Any]:
    """One record; ``acc=None`` makes an error record (no metrics, no artifact)."""
    config = {"dataset": dataset, "method": method, "params": {}, "ipc": ipc, "iterations": None, "seed": seed,
              "eval": {"model": model, "optimizer": "adam", "lr": 0.001, "loss": {"name": "ce", "params": {}},
                       "augment": "none", "steps": 10, "seed": seed, "precision": "fp32"}}
    ok = acc is not None
    metrics: dict[str, Any] = {"test_acc": acc, "val_acc": acc, "lr": 0.001, "steps": 10} if ok else {}
    if robustness is not None:
        metrics["robustness"] = {"summary": robustness}
    return {
        "key": cell_key(config), "schema": RECORD_SCHEMA, "suite": suite, "suite_hash": "0" * 16, "config": config,
        "status": "ok" if ok else "error", "error": None if ok else "RuntimeError: boom",
        "metrics": metrics,
        "cost": {"wall_s": wall_s, "distill_wall_s": distill_s, "label_bytes": label_bytes} if ok else {},
        "execution": {"precision": "fp32"} if ok else {},
        "artifact": {"hash": f"{method}-{ipc}-{seed}", "label_kind": label_kind, "n_images": 10} if ok else None,
        "provenance": {"commit": "abcdef0123456789", "torch": "2.14.1", "timm": "1.0.31", "kornia": "0.9.0",
                       "python": "3.11.7", "device": "cpu (test)"},
    }


def write_records(root: Path, records: list[dict[str, Any]]) -> None:
    """Store ``records`` as ``root/<suite>/records/<key>.json``."""
    for r in records:
        folder = Path(root) / r["suite"] / "records"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{r['key']}.json").write_text(json.dumps(r, sort_keys=True))
