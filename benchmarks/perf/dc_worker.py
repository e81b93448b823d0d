"""Train and test with DatasetCondensation's own ``evaluate_synset``, loaded from a local copy of its code.

``python -m benchmarks.perf.dc_worker --code PATH --model ConvNet A.json [B.json ...]`` imports ``utils`` and
``networks`` from PATH (a checkout of github.com/VICO-UoE/DatasetCondensation; never vendored here), builds
each model with its ``get_network`` and trains it on the artifact's images with its ``evaluate_synset``
(SGD 0.01, momentum 0.9, wd 5e-4, ``--epochs`` + 1 epochs, lr x0.1 after epoch Epoch//2 + 1, batch 256,
no augmentation), then tests on the whole test split through its ``epoch`` loop. One process trains every
artifact given in turn, as a suite of cells would; one ``RESULT {json}`` line per model goes to stdout.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.dc_worker", description=__doc__.splitlines()[0])
    p.add_argument("artifacts", nargs="+")
    p.add_argument("--code", required=True, help="a local checkout of DatasetCondensation")
    p.add_argument("--model", default="convnet3", choices=sorted(DC_MODELS))
    p.add_argument("--epochs", type=int, default=300, help="DC's epoch_eval_train (it trains one more epoch)")
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
    for i, ds in enumerate(sets):
        start, cpu = time.perf_counter(), time.process_time()
        labels = ds.labels if ds.labels.dim() == 1 else ds.labels.argmax(1)
        net = get_network(DC_MODELS[args.model], data.channels, data.num_classes, (data.size, data.size))
        _, _, acc = evaluate_synset(i, net, data.normalize(ds.images), labels, test, dc_args(args.epochs))
        print("RESULT " + json.dumps({"test_acc": 100.0 * float(acc), "wall_s": time.perf_counter() - start,
                                      "cpu_s": time.process_time() - cpu, "artifact": ds.content_hash()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
