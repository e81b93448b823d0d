"""Writing the bare-tensor formats (MTT's and DD-Ranking's): images, labels and an optional learning rate."""

from __future__ import annotations

from pathlib import Path

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.interop.exported import labels_for_torch_formats, lr_value, save_torch
from benchmarks.interop.formats import Options, Written
from benchmarks.interop.normalization import StatsTable
from benchmarks.interop.pixels import from_unit_range


def write_tensor_files(ds: DistilledSet, out_dir: Path, data: RealData, opts: Options, names: tuple[str, str, str],
                       table: StatsTable, codebase: str) -> Written:
    """Save images (normalised or whitened), labels (ids or logits) and, if learned, the lr under ``names``."""
    images_name, labels_name, lr_name = names
    images, pixels_info = from_unit_range(ds.images, data, opts, table, codebase)
    labels, labels_info = labels_for_torch_formats(ds)
    files = [save_torch(images, out_dir / images_name), save_torch(labels, out_dir / labels_name)]
    lr = lr_value(ds)
    if lr is not None:
        files.append(save_torch(lr, out_dir / lr_name))
    return Written(files, {"pixels": pixels_info, "labels": labels_info})
