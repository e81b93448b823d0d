"""DatasetCondensation (DC / DSA / DM, VICO-UoE) result files: ``res_<method>_<dataset>_<model>_<ipc>ipc.pt``.

The file is ``{'data': [[images, labels], ...], 'accs_all_exps': {model: [accuracies]}}`` with one
pair per experiment; the last pair is the set read. Images are normalised with the constants of the
codebase's ``utils.get_dataset`` (``DC_STATS``); labels are class ids (the codebase casts labels to
``long``, so soft-label sets cannot be written here). The accuracy lists hold numpy scalars, which
the safe loader allows as data.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.checks import check_images, read_labels
from benchmarks.interop.exported import class_ids, save_torch, slug
from benchmarks.interop.formats import FORMATS, TENSOR_EXPORT, TENSOR_IMPORT, Format, Options, Written
from benchmarks.interop.imported import Parts, build_set, choose_lr
from benchmarks.interop.pixels import from_unit_range, to_unit_range
from benchmarks.interop.safe_load import load_torch

CODEBASE = "DatasetCondensation"
DC_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2861,), (0.3530,)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def read_dc(path: Path, data: RealData, opts: Options) -> DistilledSet:
    """The last ``[images, labels]`` pair of a ``res_*.pt`` file, un-normalised, as a ddbench artifact."""
    doc = load_torch(path)
    if not isinstance(doc, dict) or "data" not in doc:
        got = f"a dict with keys {sorted(map(str, doc))}" if isinstance(doc, dict) else f"a {type(doc).__name__}"
        raise UserError(f"{path} is not a DatasetCondensation result: expected a dict with 'data' "
                        f"(a list of [images, labels] pairs), got {got}")
    pairs = doc["data"]
    if not isinstance(pairs, list | tuple) or not pairs:
        raise UserError(f"{path}: 'data' should be a non-empty list of [images, labels] pairs")
    last = pairs[-1]
    if not isinstance(last, list | tuple) or len(last) != 2:
        raise UserError(f"{path}: the last entry of 'data' should be an [images, labels] pair")
    what = f"{path.name} (last pair of 'data')"
    images = check_images(last[0], data, f"images of {what}")
    labels, kind, labels_info = read_labels(last[1], data, len(images), f"labels of {what}", opts.soft_kind)
    pixels, pixels_info = to_unit_range(images, data, opts, DC_STATS, CODEBASE, f"images of {what}")
    parts = Parts(pixels, labels, kind, [path], pixels_info, labels_info,
                  extra={"pairs_in_file": len(pairs), "pair_used": len(pairs) - 1})
    return build_set("dc", data, parts, choose_lr(opts.lr, None, None))


def write_dc(ds: DistilledSet, out_dir: Path, data: RealData, opts: Options) -> Written:
    """One ``res_*.pt`` holding this set as its only experiment (hard or online labels only)."""
    if ds.label_kind == "soft":
        raise UserError("DatasetCondensation's res_*.pt holds class ids only; export this soft-label set to "
                        "mtt, ddranking or imagefolder instead")
    images, pixels_info = from_unit_range(ds.images, data, opts, DC_STATS, CODEBASE)
    ipc = ds.meta.get("ipc") or len(ds.images) // data.num_classes
    name = f"res_{slug(str(ds.meta.get('method', 'ddbench')))}_{slug(data.name)}_ddbench_{ipc}ipc.pt"
    path = save_torch({"data": [[images, class_ids(ds)]], "accs_all_exps": {}}, out_dir / name)
    notes = ["the learned learning rate (hints.lr) has no place in this format and was not written"] \
        if ds.hints.lr is not None else []
    return Written([path], {"pixels": pixels_info, "labels": "class ids [N], int64", "notes": notes})


FORMATS.register("dc", Format(
    "DatasetCondensation res_*.pt: {'data': [[images, labels], ...]}, normalised tensors, class ids",
    read_dc, write_dc, TENSOR_IMPORT, TENSOR_EXPORT))
