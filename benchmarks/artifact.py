"""``DistilledSet``: the one artifact every method hands to the evaluator.

Tensors go to safetensors, metadata to JSON (never pickle); a SHA-256 over the tensors and the
semantic metadata names the artifact, so identical content always has the same name and a
corrupted file is refused on load.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from benchmarks.errors import UserError

SCHEMA_VERSION = 1
LABEL_KINDS = ("hard", "soft", "online")
# Metadata that describes how a set was made but not what it is: left out of the content hash.
_UNHASHED_META = ("cost", "provenance")


@dataclass
class DistilledSet:
    """Images in [0, 1] ([N, C, H, W]) with hard ids [N], soft labels [N, K], or an online teacher."""

    images: Tensor
    labels: Tensor
    label_kind: str
    num_classes: int
    meta: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None  # a cached teacher's key, for online relabelling
    extras: dict[str, Tensor] = field(default_factory=dict)  # e.g. a learned learning rate

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        x, y = self.images, self.labels
        problems = []
        if x.ndim != 4 or not x.is_floating_point():
            problems.append(f"images must be float [N,C,H,W], got {x.dtype} {tuple(x.shape)}")
        elif x.numel() and (x.min() < 0 or x.max() > 1):
            problems.append("images must be un-normalised, in [0, 1]")
        if self.label_kind not in LABEL_KINDS:
            problems.append(f"label_kind must be one of {LABEL_KINDS}, got {self.label_kind!r}")
        if y.shape[0] != x.shape[0]:
            problems.append(f"{x.shape[0]} images but {y.shape[0]} labels")
        if self.label_kind in ("hard", "online") and (y.ndim != 1 or y.is_floating_point()):
            problems.append("hard/online labels must be class ids [N]")
        if self.label_kind == "soft":
            if y.ndim != 2 or y.shape[1] != self.num_classes:
                problems.append(f"soft labels must be [N, {self.num_classes}]")
            elif y.numel() and ((y < -1e-6).any() or not torch.allclose(y.sum(1), torch.ones(len(y)), atol=1e-4)):
                problems.append("soft labels must be distributions (non-negative rows summing to 1)")
        if self.label_kind == "online" and not self.teacher:
            problems.append("online labels need a teacher reference")
        if problems:
            raise ValueError("invalid DistilledSet: " + "; ".join(problems))

    @property
    def label_bytes(self) -> int:
        """Storage of the labels themselves (the teacher's size is counted by the teacher cache)."""
        return self.labels.numel() * self.labels.element_size()

    def soft_targets(self) -> Tensor:
        """Labels as distributions [N, K] (one-hot for hard and online ids)."""
        if self.label_kind == "soft":
            return self.labels.float()
        return torch.nn.functional.one_hot(self.labels, self.num_classes).float()

    def _tensors(self) -> dict[str, Tensor]:
        out = {"images": self.images.float().contiguous(), "labels": self.labels.contiguous()}
        out.update({f"extra.{k}": v.contiguous() for k, v in sorted(self.extras.items())})
        return {k: v.detach().cpu() for k, v in out.items()}

    def _header(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "label_kind": self.label_kind,
            "num_classes": self.num_classes,
            "teacher": self.teacher,
            "meta": {k: v for k, v in self.meta.items() if k not in _UNHASHED_META},
        }

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for name, t in sorted(self._tensors().items()):
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
        h.update(json.dumps(self._header(), sort_keys=True).encode())
        return h.hexdigest()[:16]

    def save(self, directory: str | Path) -> Path:
        """Write ``<hash>.safetensors`` + ``<hash>.json`` atomically; returns the JSON path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        digest = self.content_hash()
        tensors = directory / f"{digest}.safetensors"
        header = directory / f"{digest}.json"
        tmp = tensors.with_suffix(f".tmp{os.getpid()}")
        save_file(self._tensors(), str(tmp))
        os.replace(tmp, tensors)
        doc = {**self._header(), "meta": self.meta, "hash": digest, "tensors": tensors.name}
        write_json_atomic(header, doc)
        return header


def load_artifact(path: str | Path) -> DistilledSet:
    """Load a saved artifact from its .json or .safetensors path and check its hash."""
    p = Path(path)
    header = p.with_suffix(".json")
    if not header.exists():
        raise UserError(f"no artifact at {p} (expected {header.name} next to its .safetensors)")
    doc = json.loads(header.read_text())
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise UserError(f"{header} has schema version {doc.get('schema_version')}, this ddbench reads {SCHEMA_VERSION}")
    tensors = load_file(str(header.parent / doc["tensors"]))
    extras = {k.removeprefix("extra."): v for k, v in tensors.items() if k.startswith("extra.")}
    ds = DistilledSet(
        images=tensors["images"], labels=tensors["labels"], label_kind=doc["label_kind"],
        num_classes=doc["num_classes"], meta=doc["meta"], teacher=doc.get("teacher"), extras=extras,
    )
    if ds.content_hash() != doc["hash"]:
        raise UserError(f"artifact {header} does not match its hash: the files are corrupted or were edited")
    return ds


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write sorted JSON to a temporary file, then rename it into place (never a half file)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, sort_keys=True, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)
