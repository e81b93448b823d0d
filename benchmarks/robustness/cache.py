"""Corrupted test splits, generated once and cached as 8-bit safetensors, checked on every load.

A file is ``<cache>/corruptions/<key>.safetensors``, the key hashing (dataset, family, corruption,
severity, seed, CODE_VERSION, test-split shape). Its metadata repeats the key's fields and a SHA-256
of the pixels; a file that does not load, does not match, or fails the checksum is rebuilt.
Images are stored as 8-bit, as the released MNIST-C and CIFAR-10-C are.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from benchmarks.data import RealData
from benchmarks.paths import cache_dir
from benchmarks.robustness.base import CorruptionFamily, derive_seed
from benchmarks.robustness.corruptions import corrupt

CODE_VERSION = 1  # bump when a corruption's output changes: every cached file is then regenerated
CHUNK = 1000  # images corrupted per call; each chunk has its own derived seed (part of the output's definition)


def cache_fields(data: RealData, family: CorruptionFamily, name: str, severity: int, seed: int) -> dict[str, object]:
    """What names a corrupted test split: the key's fields, also stored in the file."""
    return {"dataset": data.name, "family": family.name, "corruption": name, "severity": severity, "seed": seed,
            "code_version": CODE_VERSION, "shape": list(data.test_x.shape)}


def cache_path(fields: dict[str, object]) -> Path:
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "corruptions" / f"{digest}.safetensors"


def _checksum(images: Tensor) -> str:
    return hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()


def _read(path: Path, fields: dict[str, object]) -> Tensor | None:
    """The cached 8-bit images if the file is whole and is the one asked for, else None."""
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            images = f.get_tensor("images") if "images" in f.keys() else None
    except (SafetensorError, OSError, ValueError):
        meta, images = {}, None
    ok = (images is not None and images.dtype == torch.uint8 and list(images.shape) == fields["shape"]
          and meta.get("fields") == json.dumps(fields, sort_keys=True) and meta.get("sha256") == _checksum(images))
    if not ok:
        warnings.warn(f"corrupted-test-set cache {path.name} is damaged or stale: rebuilding it", stacklevel=3)
        return None
    return images


def _build(data: RealData, family: CorruptionFamily, name: str, severity: int, seed: int) -> Tensor:
    parts = [corrupt(data.test_x[i : i + CHUNK], family, name, severity, derive_seed(seed, "chunk", i // CHUNK))
             for i in range(0, len(data.test_x), CHUNK)]
    return (torch.cat(parts).clamp(0, 1) * 255).round().to(torch.uint8)


def corrupted_test_set(data: RealData, family: CorruptionFamily, name: str, severity: int, seed: int) -> Tensor:
    """The test split corrupted by (name, severity, seed) as float [0, 1] images; built once, then cached.
    Severity 0 is the clean test split itself (nothing is cached)."""
    if severity == 0:
        family.corruptions.get(name)
        return data.test_x
    fields = cache_fields(data, family, name, severity, seed)
    path = cache_path(fields)
    images = _read(path, fields)
    if images is None:
        images = _build(data, family, name, severity, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        save_file({"images": images}, str(tmp),
                  metadata={"fields": json.dumps(fields, sort_keys=True), "sha256": _checksum(images)})
        os.replace(tmp, path)
    return images.float().div_(255)
