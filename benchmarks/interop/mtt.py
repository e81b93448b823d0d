"""MTT (mtt-distillation) and its successors' ``images_best.pt`` + ``labels_best.pt``.

MTT saves the synthetic images (normalised with ``MTT_STATS``, or ZCA-whitened when run with
``--zca``) and class ids as bare tensors; it never saves its learned step size, so ``lr`` is an
option. DATM, built on MTT's code, adds ``lr_best.pt`` (a number or 0-d tensor) and stores learned
soft labels as logits [N, K] in ``labels_best.pt``; both are read when present and written back
when the artifact has them. The path is the folder holding the files or an ``images_*.pt`` file
(its ``labels_*.pt`` and ``lr_*.pt`` siblings are used).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.checks import check_images, read_labels
from benchmarks.interop.formats import FORMATS, TENSOR_EXPORT, TENSOR_IMPORT, Format, Options, Written
from benchmarks.interop.imported import Parts, build_set, choose_lr, optional_lr
from benchmarks.interop.pixels import to_unit_range
from benchmarks.interop.safe_load import load_torch
from benchmarks.interop.tensor_files import write_tensor_files

CODEBASE = "mtt-distillation"
_CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
MTT_STATS = {"cifar10": _CIFAR10, "cifar100": _CIFAR10}  # MTT normalises CIFAR-100 with CIFAR-10's constants
IMAGES, LABELS, LR = "images_best.pt", "labels_best.pt", "lr_best.pt"


def mtt_files(path: Path) -> tuple[Path, Path, Path]:
    """(images, labels, lr) paths for a results folder or an ``images_*.pt`` file."""
    if path.is_dir():
        return path / IMAGES, path / LABELS, path / LR
    if not path.name.startswith("images"):
        raise UserError(f"{path}: give the folder holding {IMAGES} and {LABELS}, or an images_*.pt file")
    return path, path.with_name("labels" + path.name[6:]), path.with_name("lr" + path.name[6:])


def read_mtt(path: Path, data: RealData, opts: Options) -> DistilledSet:
    """Images + labels (+ a stored lr) of an MTT/DATM run as a ddbench artifact."""
    images_path, labels_path, lr_path = mtt_files(path)
    for p in (images_path, labels_path):
        if not p.is_file():
            raise UserError(f"no {p.name} at {p.parent} (MTT saves images and labels side by side)")
    images = check_images(load_torch(images_path), data, images_path.name)
    labels, kind, labels_info = read_labels(load_torch(labels_path), data, len(images), labels_path.name, opts.soft_kind)
    pixels, pixels_info = to_unit_range(images, data, opts, MTT_STATS, CODEBASE, images_path.name)
    files = [images_path, labels_path]
    stored = optional_lr(lr_path, files)
    parts = Parts(pixels, labels, kind, files, pixels_info, labels_info)
    return build_set("mtt", data, parts, choose_lr(opts.lr, stored, lr_path.name))


def write_mtt(ds: DistilledSet, out_dir: Path, data: RealData, opts: Options) -> Written:
    """``images_best.pt``, ``labels_best.pt`` and, when the artifact learned one, ``lr_best.pt``."""
    return write_tensor_files(ds, out_dir, data, opts, (IMAGES, LABELS, LR), MTT_STATS, CODEBASE)


FORMATS.register("mtt", Format(
    "MTT/DATM images_best.pt + labels_best.pt (+ lr_best.pt): normalised or ZCA-whitened tensors",
    read_mtt, write_mtt, TENSOR_IMPORT, TENSOR_EXPORT))
