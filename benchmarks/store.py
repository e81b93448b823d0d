"""The results store: one JSON record per evaluation cell, named by the hash of its configuration.

Writes are atomic (temporary file, then rename), so an interrupted run leaves either a whole
record or none; running again skips what is stored, so nothing is lost and nothing duplicated.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from benchmarks.artifact import write_json_atomic

RECORD_SCHEMA = 1
REQUIRED = ("key", "schema", "config", "status", "metrics", "cost", "provenance")


def cell_key(config: dict[str, Any]) -> str:
    """Stable hash of a cell's full configuration (sorted JSON)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]


def device_free_key(config: dict[str, Any]) -> str:
    """A cell's identity without the device-resolved precision: ``precision = "auto"`` resolves to bf16
    on one CPU and fp32 on another, and both records answer the same suite cell."""
    return cell_key({**config, "eval": {k: v for k, v in config["eval"].items() if k != "precision"}})


class Store:
    """A directory of ``<key>.json`` records."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def has(self, key: str) -> bool:
        return self.path(key).exists()

    def put(self, record: dict[str, Any]) -> Path:
        problems = validate_record(record)
        if problems:
            raise ValueError("refusing to store an invalid record: " + "; ".join(problems))
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(record["key"])
        write_json_atomic(path, record)
        return path

    def get(self, key: str) -> dict[str, Any]:
        return json.loads(self.path(key).read_text())

    def keys(self) -> set[str]:
        return {p.stem for p in self.dir.glob("*.json")} if self.dir.exists() else set()

    def device_free_keys(self) -> set[str]:
        """``device_free_key`` of every stored record (reads them all)."""
        return {device_free_key(r["config"]) for r in self.records()}

    def records(self) -> list[dict[str, Any]]:
        """Every stored record, sorted by key."""
        return [self.get(k) for k in sorted(self.keys())]


def validate_record(record: dict[str, Any]) -> list[str]:
    """Problems with a record's shape (empty when it is valid)."""
    problems = [f"missing {k!r}" for k in REQUIRED if k not in record]
    if problems:
        return problems
    if record["status"] not in ("ok", "error"):
        problems.append(f"status must be ok or error, not {record['status']!r}")
    if record["key"] != cell_key(record["config"]):
        problems.append("key does not match the hash of its config")
    if record["status"] == "ok":
        for k in ("test_acc", "val_acc"):
            v = record["metrics"].get(k)
            if not isinstance(v, (int, float)) or not 0 <= v <= 100:
                problems.append(f"metrics.{k} must be a percentage, got {v!r}")
    elif not record.get("error"):
        problems.append("an error record needs its error message")
    return problems
