"""``import_set`` and ``export_set``: released distilled sets in, ddbench artifacts out, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import __version__
from benchmarks.artifact import DistilledSet, write_json_atomic
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.formats import FORMATS, parse_options

MANIFEST = "ddbench_export.json"


def import_set(fmt: str, path: str | Path, data: RealData, **options: Any) -> DistilledSet:
    """Read a released set in format ``fmt`` as a ddbench artifact for ``data`` (images in [0, 1]).

    Options (each format takes a subset; see ``benchmarks.interop.formats.Options``): lr, soft_labels,
    zca, resize, norm, mean, std, normalized, whitened, soft_kind, max_clipped."""
    spec = FORMATS.get(fmt)
    opts = parse_options(fmt, options, spec.import_options, "import")
    return spec.read(Path(path), data, opts)


def _check_matches(ds: DistilledSet, data: RealData) -> None:
    named = ds.meta.get("dataset")
    if named is not None and named != data.name:
        raise UserError(f"the artifact is for dataset {named!r}, not {data.name!r}")
    if ds.num_classes != data.num_classes:
        raise UserError(f"the artifact has {ds.num_classes} classes but {data.name} has {data.num_classes}")
    shape = (data.channels, data.size, data.size)
    if tuple(ds.images.shape[1:]) != shape:
        raise UserError(f"the artifact's images are {tuple(ds.images.shape[1:])}, {data.name}'s are {shape}")


def _empty_dir(out_dir: Path) -> Path:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir} exists and is not an empty folder; export into a new one so that no stale "
                        "file is read together with the new ones")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def export_set(ds: DistilledSet, fmt: str, out_dir: str | Path, data: RealData, **options: Any) -> list[Path]:
    """Write ``ds`` in format ``fmt`` into the new or empty folder ``out_dir``; returns the files written,
    the last being ``ddbench_export.json`` (what was written, with which normalisation, and what was left out).

    Options: zca, norm, mean, std for the tensor formats (dc, mtt, ddranking); none for imagefolder."""
    spec = FORMATS.get(fmt)
    opts = parse_options(fmt, options, spec.export_options, "export")
    _check_matches(ds, data)
    out = _empty_dir(Path(out_dir))
    written = spec.write(ds, out, data, opts)
    notes = list(written.info.pop("notes", []))
    if ds.label_kind == "online":
        notes.append(f"labels are online in ddbench (teacher {ds.teacher}); only the images and their class ids "
                     "were written")
    manifest = {
        "format": fmt,
        "artifact": ds.content_hash(),
        "method": ds.meta.get("method"),
        "dataset": data.name,
        "label_kind": ds.label_kind,
        "images": len(ds.images),
        "files": [p.relative_to(out).as_posix() for p in written.files],
        "notes": notes,
        "ddbench_version": __version__,
        **written.info,
    }
    write_json_atomic(out / MANIFEST, manifest)
    return [*written.files, out / MANIFEST]
