"""ImageFolder trees as RDED, SRe2L and CDA release their sets: one folder per class, PNG/JPEG images.

Class ids follow torchvision's ``ImageFolder``: class folders (hidden ones skipped) sorted by name
are classes 0..K-1, and each folder's images are read in sorted order, sub-folders included. Images
are [0, 1] pixels, so nothing is un-normalised; a size other than the dataset's is refused unless
``resize`` is given (bilinear, antialiased). Soft labels come from an optional file
(``soft_labels``): a ``.pt`` (weights_only) or ``.safetensors`` holding one tensor [N, K] (or
under ``soft_labels`` / ``labels``), rows in the tree's image order, read as probabilities when
every row is non-negative and sums to 1 and as logits otherwise (``soft_kind`` forces either).
Writing quantises to 8-bit PNG (``round(255 x)``): exact for images already on the k/255 grid.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.checks import read_soft_labels
from benchmarks.interop.exported import class_ids, save_torch
from benchmarks.interop.formats import FORMATS, Format, Options, Written
from benchmarks.interop.imported import Parts, build_set, choose_lr
from benchmarks.interop.safe_load import load_any, sha256, single_tensor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SOFT_LABELS_FILE = "soft_labels.pt"
PNG_CHANNELS = (1, 3)


def class_folders(root: Path) -> list[Path]:
    """The class folders of a tree, sorted by name (torchvision's order)."""
    if not root.is_dir():
        raise UserError(f"{root} is not a folder (an ImageFolder tree has one sub-folder per class)")
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def image_files(folder: Path) -> list[Path]:
    """PNG/JPEG files under a class folder, in torchvision's order (sorted walk, sorted names)."""
    found = []
    for here, _, names in sorted(os.walk(folder, followlinks=True)):
        found += [Path(here) / n for n in sorted(names) if n.lower().endswith(IMAGE_SUFFIXES)]
    return found


def read_image(path: Path, channels: int) -> Tensor:
    """One image as a [C, H, W] float tensor on the k/255 grid; colour is refused for 1-channel data."""
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise UserError(f"{path} is not a readable image ({str(err).splitlines()[0][:120]})") from None
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)
    if channels == 1:
        if not bool((x == x[:1]).all()):
            raise UserError(f"{path} is a colour image but the dataset has 1 channel")
        x = x[:1]
    return x.float() / 255.0


def _resized(x: Tensor, size: int) -> Tensor:
    return F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)


def _tree_digest(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(root).as_posix()}:{sha256(f)}\n".encode())
    return h.hexdigest()


def read_imagefolder(path: Path, data: RealData, opts: Options) -> DistilledSet:
    """A class-per-folder tree of images (+ an optional soft-label file) as a ddbench artifact."""
    if data.channels not in PNG_CHANNELS:
        raise UserError(f"ImageFolder images have 1 or 3 channels; {data.name} has {data.channels}")
    folders = class_folders(path)
    if len(folders) != data.num_classes:
        shown = ", ".join(f.name for f in folders[:5]) + (", ..." if len(folders) > 5 else "")
        raise UserError(f"{path} has {len(folders)} class folders ({shown or 'none'}) but {data.name} has "
                        f"{data.num_classes} classes")
    files: list[Path] = []
    ids: list[int] = []
    for c, folder in enumerate(folders):
        found = image_files(folder)
        if not found:
            raise UserError(f"class folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} images")
        files += found
        ids += [c] * len(found)
    images, resized = [], 0
    for f in files:
        x = read_image(f, data.channels)
        if x.shape[1:] != (data.size, data.size):
            if not opts.resize:
                raise UserError(f"{f} is {x.shape[2]}x{x.shape[1]} but {data.name} is {data.size}x{data.size}; "
                                "resize=true (--resize) resizes images to the dataset's size")
            x, resized = _resized(x, data.size), resized + 1
        images.append(x)
    labels: Tensor = torch.tensor(ids, dtype=torch.long)
    kind, labels_info, label_files = "hard", {"kind": "hard", "source": "sorted class folders"}, []
    if opts.soft_labels is not None:
        what = opts.soft_labels.name
        raw = single_tensor(load_any(opts.soft_labels), opts.soft_labels, ("soft_labels", "labels"))
        labels, held = read_soft_labels(raw, data, len(files), what, opts.soft_kind)
        kind, labels_info, label_files = "soft", {"kind": "soft", "stored_as": held}, [opts.soft_labels]
    extra = {"class_folders": [f.name for f in folders], "images_resized": resized,
             "tree": {"images": len(files), "sha256": _tree_digest(files, path)}}
    parts = Parts(torch.stack(images), labels, kind, label_files, {"undone": "nothing (8-bit image files)"},
                  labels_info, extra=extra, roots=[path])
    return build_set("imagefolder", data, parts, choose_lr(opts.lr, None, None))


def write_imagefolder(ds: DistilledSet, out_dir: Path, data: RealData, opts: Options) -> Written:
    """One zero-padded folder per class id (soft sets: by most probable class), 8-bit PNGs, soft labels beside."""
    if data.channels not in PNG_CHANNELS:
        raise UserError(f"PNG holds 1 or 3 channels; {data.name} has {data.channels}")
    ids = class_ids(ds)
    class_width = max(3, len(str(data.num_classes - 1)))
    image_width = max(5, len(str(len(ds.images) - 1)))
    quantised = (ds.images * 255).round().clamp(0, 255).to(torch.uint8)
    files = []
    for c in range(data.num_classes):
        (out_dir / f"{c:0{class_width}d}").mkdir(parents=True, exist_ok=True)
    for i in range(len(ds.images)):
        arr = quantised[i].permute(1, 2, 0).numpy()
        arr = arr[..., 0] if data.channels == 1 else arr
        path = out_dir / f"{int(ids[i]):0{class_width}d}" / f"{i:0{image_width}d}.png"
        Image.fromarray(np.ascontiguousarray(arr)).save(path)  # uint8 [H, W] -> L, [H, W, 3] -> RGB
        files.append(path)
    info = {"pixels": {"applied": "8-bit quantisation, round(255 x)",
                       "max_quantisation_error": round(float((quantised.float() / 255 - ds.images).abs().max()), 6)},
            "labels": "class folders (zero-padded class ids)"}
    if ds.label_kind == "soft":
        order = torch.argsort(ids, stable=True)  # the order an ImageFolder reader lists the files in
        files.append(save_torch(ds.labels[order].float().contiguous(), out_dir / SOFT_LABELS_FILE))
        info["labels"] = (f"folders by most probable class; {SOFT_LABELS_FILE} holds the probabilities [N, K] in "
                          "the tree's (sorted) order")
    if ds.hints.lr is not None:
        info["notes"] = ["the learned learning rate (hints.lr) has no place in this format and was not written"]
    return Written(files, info)


FORMATS.register("imagefolder", Format(
    "ImageFolder tree (RDED / SRe2L / CDA): one folder per class, PNG/JPEG in [0, 1], optional soft-label file",
    read_imagefolder, write_imagefolder,
    frozenset({"lr", "soft_labels", "resize", "soft_kind"}), frozenset()))
