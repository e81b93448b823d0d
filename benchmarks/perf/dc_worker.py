"""Train and test with DatasetCondensation's own ``evaluate_synset``, loaded from a local copy of its code.

``python -m benchmarks.perf.dc_worker --code PATH --model ConvNet A.json [B.json ...]`` imports ``utils`` and
``networks`` from PATH (a checkout of github.com/VICO-UoE/DatasetCondensation; never vendored here), builds
each model with its ``get_network`` and trains it on the artifact's images with its ``evaluate_synset``
(SGD 0.01, momentum 0.9, wd 5e-4, ``--epochs`` + 1 epochs, lr x0.1 after epoch Epoch//2 + 1, batch 256,
no augmentation), then tests on the whole test split through its ``epoch`` loop. One process trains every
artifact given in turn, as a suite of cells would; one ``RESULT {json}`` line per model goes to stdout.

``--protocol dc|dsa|dm|mtt`` sets the attributes as that paper's script does instead (``benchmarks/protocols.py``
names them): DC's ``get_daparam`` augmentation, or DSA's ``DiffAugment`` with ``ParamDiffAug`` and the strategy
its readme gives for the dataset, and the protocol's epochs; ``--models`` trains that many models per artifact.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from types import SimpleNamespace

import torch
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.artifact import load_artifact
from benchmarks.data import load_dataset

DC_MODELS = {"convnet3": "ConvNet", "lenet": "LeNet"}  # ddbench's name -> the same network in DC's networks.py


def dc_args(epochs: int) -> SimpleNamespace:
    """The attributes ``evaluate_synset`` and ``epoch`` read: DC's evaluation recipe without augmentation."""
    return SimpleNamespace(device="cpu", lr_net=0.01, epoch_eval_train=epochs, batch_train=256, dsa=False,
                           dc_aug_param=None, dsa_strategy="None", dsa_param=None)


OFFICIAL_DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "svhn": "SVHN", "cifar10": "CIFAR10",
                     "cifar100": "CIFAR100"}  # ddbench's name -> the name the official scripts take


def protocol_args(name: str, dataset: str, hflip: bool, ipc: int, lr: float | None) -> SimpleNamespace:
    """The attributes the official script sets for protocol ``name`` on ``dataset`` (its main.py / main_DM.py)."""
    from utils import ParamDiffAug, get_daparam  # type: ignore[import-not-found]  # the official code's own

    from benchmarks.protocols import PROTOCOLS

    proto = PROTOCOLS.get(name)
    args = dc_args(proto.epochs(dataset) - int(proto.extra_epoch))
    args.lr_net = proto.lr if proto.lr is not None else (lr if lr is not None else 0.01)
    if proto.augment == "dsa_paper":
        # the readme: color_crop_cutout_scale_rotate for the digit datasets, flip added where it preserves labels
        args.dsa, args.dsa_param = True, ParamDiffAug()
        args.dsa_strategy = "color_crop_cutout_flip_scale_rotate" if hflip else "color_crop_cutout_scale_rotate"
    else:
        args.dc_aug_param = get_daparam(OFFICIAL_DATASETS[dataset], "ConvNet", "ConvNet", ipc)
    return args


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.dc_worker", description=__doc__.splitlines()[0])
    p.add_argument("artifacts", nargs="+")
    p.add_argument("--code", required=True, help="a local checkout of DatasetCondensation")
    p.add_argument("--model", default="convnet3", choices=sorted(DC_MODELS))
    p.add_argument("--epochs", type=int, default=300, help="DC's epoch_eval_train (it trains one more epoch)")
    p.add_argument("--protocol", default="none", choices=["none", "dc", "dsa", "dm", "mtt"],
                   help="a published protocol, set as its script does (none: --epochs, no augmentation)")
    p.add_argument("--models", type=int, default=1, help="models trained per artifact")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, args.code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's deprecated ndimage.interpolation import in DC's utils
        from utils import evaluate_synset, get_network  # type: ignore[import-not-found]
    sets = [load_artifact(a) for a in args.artifacts]
    data = load_dataset(sets[0].meta["dataset"])
    test = DataLoader(TensorDataset(data.normalize(data.test_x), data.test_y), batch_size=256, shuffle=False,
                      num_workers=0)
    dataset = sets[0].meta["dataset"]
    for i, ds in enumerate(sets):
        labels = ds.labels if ds.labels.dim() == 1 else ds.labels.argmax(1)
        ipc = len(labels) // data.num_classes
        for m in range(args.models):
            start, cpu = time.perf_counter(), time.process_time()
            run_args = (dc_args(args.epochs) if args.protocol == "none" else
                        protocol_args(args.protocol, dataset, bool(data.info["hflip"]), ipc, ds.hints.lr))
            net = get_network(DC_MODELS[args.model], data.channels, data.num_classes, (data.size, data.size))
            # Under torch 2.x a DSA-augmented batch can leave the feature extractor in a non-contiguous layout,
            # which networks.py's `.view` refuses; a contiguous copy changes the layout, not one value.
            net.features.register_forward_hook(lambda _m, _inputs, out: out.contiguous())
            _, _, acc = evaluate_synset(i, net, data.normalize(ds.images), labels, test, run_args)
            print("RESULT " + json.dumps({"test_acc": 100.0 * float(acc), "wall_s": time.perf_counter() - start,
                                          "cpu_s": time.process_time() - cpu, "artifact": ds.content_hash(),
                                          "model": m, "protocol": args.protocol}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
