"""DD-Ranking's evaluator inputs: ``images.pt``, ``labels.pt`` and ``lr.pt`` in one folder.

What DD-Ranking (NUS-HPC-AI-Lab/DD-Ranking @b8b0966, v0.2.0) loads, read from its README, demos and
``ddranking/metrics`` / ``ddranking/utils/data.py``:

- Its evaluators take tensors, ``compute_metrics(image_tensor=..., hard_labels=... | soft_labels=...,
  syn_lr=...)``; the demos load them with ``torch.load`` from ``images.pt``, ``labels.pt`` and ``lr.pt``.
  ``image_path=`` takes an ImageFolder tree instead (export format ``imagefolder``), read with the
  user's ``custom_train_trans``.
- ``image_tensor`` is wrapped in a ``TensorDataset`` as it is, then only augmented, and the test set
  it is scored on is ``ToTensor() + Normalize(mean, std)``: images must be stored normalised with
  DD-Ranking's constants (``DDRANKING_STATS``; it normalises CIFAR-100 with CIFAR-10's numbers and
  ships no MNIST-family dataset), or ZCA-whitened when the evaluator runs with ``use_zca=True``
  (kornia ``ZCAWhitening(eps=0.1)`` fit on ``ToTensor()`` train images; give the same whitening
  with the ``zca`` option).
- ``hard_labels`` are class ids [N]; when none are given it assumes the class-major layout
  ``[0]*ipc + [1]*ipc + ...``. ``soft_labels`` (mode ``S``) are teacher outputs [N, K], i.e. logits:
  its losses apply ``softmax(labels / T)``. Soft sets are written as centred log-probabilities.
- ``syn_lr`` is a float or a tensor (``.item()`` is taken).
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.checks import check_images, read_labels
from benchmarks.interop.formats import FORMATS, TENSOR_EXPORT, TENSOR_IMPORT, Format, Options, Written
from benchmarks.interop.imported import Parts, build_set, choose_lr, optional_lr
from benchmarks.interop.pixels import to_unit_range
from benchmarks.interop.safe_load import load_torch
from benchmarks.interop.tensor_files import write_tensor_files

CODEBASE = "DD-Ranking"
_CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
DDRANKING_STATS = {"cifar10": _CIFAR10, "cifar100": _CIFAR10}
IMAGES, LABELS, LR = "images.pt", "labels.pt", "lr.pt"


def read_ddranking(path: Path, data: RealData, opts: Options) -> DistilledSet:
    """A DD-Ranking input folder as a ddbench artifact; without ``labels.pt`` the class-major layout is assumed."""
    if not path.is_dir():
        raise UserError(f"{path}: give the folder holding {IMAGES} (and {LABELS}, {LR} if the set has them)")
    images_path, labels_path, lr_path = path / IMAGES, path / LABELS, path / LR
    images = check_images(load_torch(images_path), data, IMAGES)
    files = [images_path]
    if labels_path.is_file():
        labels, kind, labels_info = read_labels(load_torch(labels_path), data, len(images), LABELS, opts.soft_kind)
        files.append(labels_path)
    else:
        if len(images) % data.num_classes:
            raise UserError(f"no {LABELS} in {path}, and {len(images)} images cannot follow DD-Ranking's default "
                            f"layout of ipc images per class for {data.num_classes} classes")
        labels = torch.arange(data.num_classes).repeat_interleave(len(images) // data.num_classes)
        kind, labels_info = "hard", {"kind": "hard", "source": "DD-Ranking's default class-major layout"}
    pixels, pixels_info = to_unit_range(images, data, opts, DDRANKING_STATS, CODEBASE, IMAGES)
    stored = optional_lr(lr_path, files)
    parts = Parts(pixels, labels, kind, files, pixels_info, labels_info)
    return build_set("ddranking", data, parts, choose_lr(opts.lr, stored, LR))


def write_ddranking(ds: DistilledSet, out_dir: Path, data: RealData, opts: Options) -> Written:
    """``images.pt`` (normalised as DD-Ranking's test set is), ``labels.pt`` and ``lr.pt`` when there is one."""
    written = write_tensor_files(ds, out_dir, data, opts, (IMAGES, LABELS, LR), DDRANKING_STATS, CODEBASE)
    use = "soft_labels= (mode 'S')" if ds.label_kind == "soft" else "hard_labels="
    written.info["notes"] = [f"pass labels.pt to compute_metrics as {use}, lr.pt (if written) as syn_lr="]
    return written


FORMATS.register("ddranking", Format(
    "DD-Ranking inputs images.pt + labels.pt (+ lr.pt): tensors normalised as its test set",
    read_ddranking, write_ddranking, TENSOR_IMPORT, TENSOR_EXPORT))
