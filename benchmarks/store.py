"""The results store: one JSON record per evaluation cell, named by its key (``benchmarks.spec``).

Writes are atomic (temporary file, then rename), so an interrupted run leaves either a whole
record or none; running again skips what is stored, so nothing is lost and nothing duplicated.
A file that is not a valid record is moved aside to ``.corrupt/`` with a one-line warning (its cell
runs again); records of an older schema are left alone and ``ddbench migrate`` brings them up to date.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.artifact import write_json_atomic
from benchmarks.errors import UserError
from benchmarks.spec import RECORD_SCHEMA, validate_record

CORRUPT_DIR = ".corrupt"


class Store:
    """A directory of ``<key>.json`` records."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def put(self, record: dict[str, Any]) -> Path:
        problems = validate_record(record)
        if problems:
            raise ValueError("refusing to store an invalid record: " + "; ".join(problems))
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            path = self.path(record["key"])
            write_json_atomic(path, record)
        except OSError as e:
            raise UserError(f"cannot write records to {self.dir}: {e.strerror or e}; choose a writable --records-dir") from None
        return path

    def get(self, key: str) -> dict[str, Any]:
        return json.loads(self.path(key).read_text())

    def scan(self) -> dict[str, dict[str, Any]]:
        """Every valid stored record by key; invalid files are moved aside (see the module docstring)."""
        if not self.dir.exists():
            return {}
        if not self.dir.is_dir():
            raise UserError(f"{self.dir} is not a directory: choose another --records-dir")
        out, old = {}, 0
        for p in sorted(self.dir.glob("*.json")):
            try:
                record = json.loads(p.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                self._quarantine(p, f"not JSON ({type(e).__name__})")
                continue
            if isinstance(record, dict) and isinstance(record.get("schema"), int) and record["schema"] < RECORD_SCHEMA:
                old += 1
                continue
            problems = validate_record(record)
            if problems or p.stem != record.get("key"):
                self._quarantine(p, problems[0] if problems else "file name is not the record's key")
                continue
            out[p.stem] = record
        if old:
            raise UserError(f"{old} record(s) in {self.dir} were written by an older ddbench (schema < {RECORD_SCHEMA}): "
                            "run `ddbench migrate` first (it re-keys them in place, nothing is re-run)")
        return out

    def keys(self) -> set[str]:
        return set(self.scan())

    def records(self) -> list[dict[str, Any]]:
        """Every valid stored record, sorted by key."""
        return [r for _, r in sorted(self.scan().items())]

    def _quarantine(self, path: Path, why: str) -> None:
        target = self.dir / CORRUPT_DIR / path.name
        try:
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
            where = f"moved to {target}"
        except OSError:
            where = "left in place (the folder is not writable)"
        sys.stderr.write(f"ddbench: warning: {path} is not a valid record ({why}); {where}; its cell will run again\n")
