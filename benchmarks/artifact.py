"""``DistilledSet``: the one artifact every method hands to the evaluator.

Tensors go to safetensors, metadata to JSON (never pickle); a SHA-256 over the tensors and the
semantic metadata names the artifact, so identical content always has the same name and a
corrupted file is refused on load. How long a method took is kept in ``meta["cost"]``, beside the
content and outside the hash. ``hints`` are typed training suggestions (steps, lr) that any method
may set and the evaluator reads without knowing which method wrote them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import safetensors
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from benchmarks.errors import UserError

SCHEMA_VERSION = 2  # 2: typed training hints (1 kept them as meta["best_train_steps"] and extras["lr"])
READABLE_SCHEMAS = (1, 2)
LABEL_KINDS = ("hard", "soft", "online")
# Metadata that describes how a set was made but not what it is: left out of the content hash.
_UNHASHED_META = ("cost", "provenance")
CONTENT_HASH_LEN = 16


@dataclass(frozen=True)
class TrainingHints:
    """What a method suggests for training on its set, chosen on validation or learned: a step count
    (label distillation's protocol) and a learning rate (MTT's learned one). None: no suggestion."""

    steps: int | None = None
    lr: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class DistilledSet:
    """Images in [0, 1] ([N, C, H, W]) with hard ids [N], soft labels [N, K], or an online teacher."""

    images: Tensor
    labels: Tensor
    label_kind: str
    num_classes: int
    meta: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None  # a cached teacher's key, for online relabelling
    extras: dict[str, Tensor] = field(default_factory=dict)  # e.g. DD's learned per-step learning rates
    hints: TrainingHints = field(default_factory=TrainingHints)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        x, y = self.images, self.labels
        problems = []
        if x.ndim != 4 or not x.is_floating_point():
            problems.append(f"images must be float [N,C,H,W], got {x.dtype} {tuple(x.shape)}")
        elif not torch.isfinite(x).all():
            problems.append("images contain NaN or infinite values")
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
            elif not torch.isfinite(y).all():
                problems.append("soft labels contain NaN or infinite values")
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
            **({"hints": self.hints.to_json()} if self.hints.to_json() else {}),
        }

    def content_hash(self) -> str:
        return _digest(self._tensors(), self._header())

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


def _digest(tensors: dict[str, Tensor], header: dict[str, Any]) -> str:
    """SHA-256 over the tensors (name, dtype, shape, bytes) and the hashed header."""
    h = hashlib.sha256()
    for name, t in sorted(tensors.items()):
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    h.update(json.dumps(header, sort_keys=True).encode())
    return h.hexdigest()[:CONTENT_HASH_LEN]


def _stored_header(doc: dict[str, Any]) -> dict[str, Any]:
    """The hashed part of a stored header, as the schema that wrote it hashed it."""
    keys = ("schema_version", "label_kind", "num_classes", "teacher", "meta", "hints")
    out = {k: doc[k] for k in keys if k in doc}
    out["meta"] = {k: v for k, v in doc["meta"].items() if k not in _UNHASHED_META}
    return out


def _tensor_file(header: Path, doc: dict[str, Any]) -> Path:
    """The safetensors file a header names: a bare file name beside the header, nothing else."""
    name = doc.get("tensors")
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".safetensors"):
        raise UserError(f"{header}: 'tensors' must name a .safetensors file beside it, got {name!r}")
    return header.parent / name


HEADER_TYPES: dict[str, Any] = {"schema_version": int, "label_kind": str, "num_classes": int, "meta": dict,
                                "hash": str, "tensors": str, "teacher": str | None, "hints": dict}
OPTIONAL_HEADER = ("teacher", "hints")


def check_header(header: Path, doc: Any) -> None:
    """UserError unless an artifact header has every key with its type, a known label kind and schema, a teacher
    that is a safe name (it becomes a file name) and hints of the right types."""
    from benchmarks.validate import check_fields, check_value, safe_name

    if not isinstance(doc, dict):
        raise UserError(f"artifact {header} is not a JSON object")
    missing = [k for k in HEADER_TYPES if k not in doc and k not in OPTIONAL_HEADER]
    if missing:
        raise UserError(f"artifact {header} is missing {', '.join(missing)}; re-create it")
    for k, tp in HEADER_TYPES.items():
        if k in doc:
            check_value(k, doc[k], tp, f"artifact {header}")
    if doc["schema_version"] not in READABLE_SCHEMAS:
        raise UserError(f"{header} has schema version {doc['schema_version']}, this ddbench reads {READABLE_SCHEMAS}")
    if doc["label_kind"] not in LABEL_KINDS or doc["num_classes"] < 1:
        raise UserError(f"artifact {header}: label_kind must be one of {LABEL_KINDS} and num_classes positive, got "
                        f"{doc['label_kind']!r} and {doc['num_classes']}")
    if doc.get("teacher") is not None:
        safe_name(doc["teacher"], f"artifact {header}: teacher")
    hints = doc.get("hints", {})
    unknown = sorted(set(hints) - {"steps", "lr"})
    if unknown:
        raise UserError(f"artifact {header}: unknown hints {unknown}; hints are steps and lr")
    check_fields(TrainingHints(**hints), f"artifact {header} hints")


def load_artifact(path: str | Path) -> DistilledSet:
    """Load a saved artifact from its .json or .safetensors path and check its hash (schemas 1 and 2)."""
    p = Path(path)
    header = p.with_suffix(".json")
    if not header.is_file():
        raise UserError(f"no artifact at {p} (expected {header.name} next to its .safetensors)")
    try:
        doc = json.loads(header.read_text())
        check_header(header, doc)
        version = doc["schema_version"]
        tensors = load_file(str(_tensor_file(header, doc)))
        digest = _digest({k: v for k, v in tensors.items()}, _stored_header(doc))
    except UserError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, safetensors.SafetensorError) as e:
        raise UserError(f"artifact {header} cannot be read ({type(e).__name__}: {e}); re-create it") from None
    if digest != doc.get("hash"):
        raise UserError(f"artifact {header} does not match its hash: the files are corrupted or were edited")
    meta = dict(doc["meta"])
    extras = {k.removeprefix("extra."): v for k, v in tensors.items() if k.startswith("extra.")}
    hints = TrainingHints(**doc.get("hints", {}))
    if version == 1:  # schema 1 kept the hints in the method's metadata and extras
        steps = meta.pop("best_train_steps", None)
        lr = extras.get("lr")
        hints = TrainingHints(steps=int(steps) if steps else None, lr=float(lr.reshape(-1)[0]) if lr is not None else None)
    try:
        return DistilledSet(images=tensors["images"], labels=tensors["labels"], label_kind=doc["label_kind"],
                            num_classes=doc["num_classes"], meta=meta, teacher=doc.get("teacher"), extras=extras,
                            hints=hints)
    except (KeyError, ValueError) as e:
        raise UserError(f"artifact {header} is not a valid distilled set: {e}") from None


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it into place (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half file behind
        raise


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write sorted JSON to a temporary file, then rename it into place (never a half file)."""
    text = json.dumps(doc, sort_keys=True, indent=1, allow_nan=False) + "\n"
    write_atomic(path, lambda f: f.write(text.encode()))
