"""``ddbench import FORMAT PATH --dataset D`` and ``ddbench export ARTIFACT FORMAT --out DIR``.

``add_import`` and ``add_export`` declare one each (``add_parser`` both); ``run`` carries out whichever was parsed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from benchmarks.errors import UserError

_FORMAT_HELP = "dc, mtt, imagefolder or ddranking"


def _stats_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--norm", choices=("auto", "dataset", "published"), default=None,
                   help="mean/std of the stored tensors: the dataset's own, the codebase's published constants, "
                        "or auto (published where the codebase has them; default)")
    p.add_argument("--mean", type=float, nargs="+", default=None, help="explicit per-channel mean (with --std)")
    p.add_argument("--std", type=float, nargs="+", default=None, help="explicit per-channel std (with --mean)")
    p.add_argument("--zca", default=None, metavar="FILE",
                   help="the ZCA whitening of the tensors (.safetensors or .pt: mean_vector + transform_matrix)")
    p.add_argument("--data-root", default=None, help="torchvision-layout datasets (default $DDBENCH_DATA)")


def add_parser(subparsers: Any) -> None:
    """Add the ``import`` and ``export`` subcommands to the ddbench CLI's subparsers."""
    add_import(subparsers)
    add_export(subparsers)


def add_import(subparsers: Any) -> None:
    """Add the ``import`` subcommand (the CLI declares only the command it runs, so each has its own)."""
    imp = subparsers.add_parser("import", help="make a ddbench artifact from a released distilled set")
    imp.add_argument("format", help=_FORMAT_HELP)
    imp.add_argument("path", help="the res_*.pt file, MTT/DD-Ranking folder (or images_*.pt), or ImageFolder root")
    imp.add_argument("--dataset", required=True, help="the dataset the set was distilled from")
    imp.add_argument("--out", default="artifacts", help="directory for <hash>.safetensors + <hash>.json")
    imp.add_argument("--lr", type=float, default=None, help="the learned step size (MTT does not save it)")
    imp.add_argument("--soft-labels", default=None, metavar="FILE",
                     help="ImageFolder: [N, K] probabilities or logits (.pt or .safetensors), in the tree's order")
    imp.add_argument("--soft-kind", choices=("auto", "probs", "logits"), default=None,
                     help="how [N, K] labels are read (default auto: rows summing to 1 are probabilities)")
    imp.add_argument("--resize", action="store_true", help="ImageFolder: resize images to the dataset's size")
    imp.add_argument("--not-normalized", action="store_true", help="the tensors hold [0, 1] pixels already")
    imp.add_argument("--not-whitened", action="store_true", help="skip the ZCA-whitening detector")
    imp.add_argument("--max-clipped", type=float, default=None,
                     help="largest share of pixel values allowed outside [0, 1] (default 0.25)")
    _stats_args(imp)
    imp.set_defaults(interop_action=_run_import)


def add_export(subparsers: Any) -> None:
    """Add the ``export`` subcommand."""
    exp = subparsers.add_parser("export", help="write an artifact as a released-set format or DD-Ranking's inputs")
    exp.add_argument("artifact", help="path of an artifact's .json or .safetensors")
    exp.add_argument("format", help=_FORMAT_HELP)
    exp.add_argument("--out", required=True, help="a new or empty folder")
    exp.add_argument("--dataset", default=None, help="default: the artifact's dataset")
    _stats_args(exp)
    exp.set_defaults(interop_action=_run_export)


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """Options the user set (an argument left at its default is not passed, so formats see only real choices)."""
    values = {name: getattr(args, name) for name in names}
    return {name: v for name, v in values.items() if v is not None and v is not False}


_STATS = ("norm", "mean", "std", "zca")
_IMPORT = ("lr", "soft_labels", "soft_kind", "resize", "max_clipped", *_STATS)


def _run_import(args: argparse.Namespace) -> None:
    from benchmarks.data import load_dataset
    from benchmarks.interop.api import import_set

    options = _given(args, _IMPORT)
    if args.not_normalized:
        options["normalized"] = False
    if args.not_whitened:
        options["whitened"] = False
    ds = import_set(args.format, args.path, load_dataset(args.dataset, args.data_root), **options)
    path = ds.save(args.out)
    print(f"{path}  ({len(ds.images)} images, {ds.label_kind} labels, from {args.format})")


def _run_export(args: argparse.Namespace) -> None:
    from benchmarks.artifact import load_artifact
    from benchmarks.data import load_dataset
    from benchmarks.interop.api import export_set

    ds = load_artifact(args.artifact)
    dataset = args.dataset or ds.meta.get("dataset")
    if not dataset:
        raise UserError("the artifact names no dataset: pass --dataset")
    for path in export_set(ds, args.format, args.out, load_dataset(dataset, args.data_root), **_given(args, _STATS)):
        print(path)


def run(args: argparse.Namespace) -> None:
    """Carry out the parsed ``import`` or ``export`` command."""
    action: Callable[[argparse.Namespace], None] = args.interop_action
    action(args)
