"""The published evaluation protocols (DC, DSA, DM, MTT) as data, and their expansion into EvalConfig fields.

Each preset is the recipe of the paper's ``evaluate_synset`` (DatasetCondensation ``utils.py``, copied into the
DM and MTT repositories), field by field, as read from the code (see /work/shared/research/benchmarks.md, s. 2).
A suite asks for one with ``protocol = "dc"`` (in ``[eval]`` or a ``[sweep]``); ``eval_fields`` turns it into the
evaluator's fields for a dataset, and the evaluator converts its epochs into optimizer steps (``steps_for``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from benchmarks.registry import Registry


@dataclass(frozen=True)
class Protocol:
    """One paper's evaluation recipe. Epochs are counted as the paper's code counts them (``Epoch``); its loop
    runs ``Epoch + 1`` epochs (``extra_epoch``)."""

    paper: str
    code: str  # where in the official code the recipe is read
    augment: str  # the augmentation (`ddbench list augmentations`) on the datasets in augment_datasets
    augment_datasets: tuple[str, ...] | None  # None: every dataset
    distilled_sets: int  # repeats: distilled sets per setting (--num_exp) ...
    models_per_set: int  # ... and freshly initialised models trained on each (--num_eval)
    lr: float | None = 0.01  # None: the artifact's learned lr (lr_from_artifact)
    optimizer: str = "momentum"  # torch SGD with momentum (timm "momentum")
    momentum: float = 0.9
    weight_decay: float = 5e-4
    weight_decay_all: bool = True  # torch.optim.SGD(net.parameters(), ...): biases and norm weights decay too
    batch_size: int = 256
    loss: str = "ce"
    epochs_plain: int = 300  # Epoch without augmentation
    epochs_augmented: int = 1000  # Epoch with DSA or DC-aug ("training with data augmentation needs more epochs")
    extra_epoch: bool = True  # `for ep in range(Epoch + 1)`
    # lr x0.1 (not "halved", as issue 21 says: the code multiplies by 0.1) once epoch Epoch//2+1 is done, with a
    # new SGD optimizer (momentum reset): the "dc_step" schedule
    schedule: str = "dc_step"
    lr_decay: float = 0.1
    normalize: str = "dataset"  # per-channel mean/std of the train split (MNIST .1307/.3081), as ddbench always does
    test: str = "final"  # test accuracy read once, after the last epoch

    def augmentation(self, dataset: str) -> str:
        """The augmentation this protocol trains with on ``dataset``."""
        on = self.augment_datasets is None or dataset in self.augment_datasets
        return self.augment if on else "none"

    def epochs(self, dataset: str) -> int:
        """Epochs the paper's loop runs on ``dataset`` (its Epoch, plus one)."""
        epoch = self.epochs_augmented if self.augmentation(dataset) != "none" else self.epochs_plain
        return epoch + int(self.extra_epoch)


PROTOCOLS: Registry[Protocol] = Registry("protocol")
PROTOCOLS.register("dc", Protocol(
    "Dataset Condensation with Gradient Matching (Zhao, Mopuri & Bilen, ICLR 2021)",
    "DatasetCondensation main.py + utils.py (evaluate_synset, get_daparam: crop_scale_rotate on MNIST only)",
    augment="crop_scale_rotate", augment_datasets=("mnist",), distilled_sets=5, models_per_set=20))
PROTOCOLS.register("dsa", Protocol(
    "Dataset Condensation with Differentiable Siamese Augmentation (Zhao & Bilen, ICML 2021)",
    "DatasetCondensation main.py --method DSA (--num_exp 5 --num_eval 5) + utils.py (DiffAugment, ParamDiffAug)",
    augment="dsa_paper", augment_datasets=None, distilled_sets=5, models_per_set=5))
PROTOCOLS.register("dm", Protocol(
    "Dataset Condensation with Distribution Matching (Zhao & Bilen, WACV 2023)",
    "DatasetCondensation main_DM.py (--num_exp 5 --num_eval 5, DSA at evaluation) + utils.py",
    augment="dsa_paper", augment_datasets=None, distilled_sets=5, models_per_set=5))
PROTOCOLS.register("mtt", Protocol(
    "Dataset Distillation by Matching Training Trajectories (Cazenavette et al., CVPR 2022)",
    "mtt-distillation distill.py (evaluate_synset with args.lr_net = syn_lr, DSA, num_eval 5)",
    augment="dsa_paper", augment_datasets=None, distilled_sets=1, models_per_set=5, lr=None))


def eval_fields(name: str, dataset: str) -> dict[str, Any]:
    """The EvalConfig fields protocol ``name`` fixes on ``dataset`` (its epochs become steps at evaluation time)."""
    p = PROTOCOLS.get(name)
    return {"protocol": name, "optimizer": p.optimizer, "lr": p.lr, "lr_from_artifact": p.lr is None, "lr_grid": (),
            "weight_decay": p.weight_decay, "weight_decay_all": p.weight_decay_all, "batch_size": p.batch_size, "loss": p.loss, "schedule": p.schedule,
            "augment": p.augmentation(dataset), "epochs": p.epochs(dataset), "steps_from_artifact": False}


def steps_for(epochs: int, n_images: int, batch_size: int) -> int:
    """Optimizer steps of ``epochs`` passes over ``n_images`` in batches of ``batch_size`` (the last one partial)."""
    return epochs * math.ceil(n_images / batch_size)


def expand(cfg: Any, dataset: str) -> Any:
    """An EvalConfig with ``cfg.protocol``'s fields wherever ``cfg`` leaves a field at its default (what a command
    line gives: a flag the user set differs from its default and wins); ``cfg`` itself without a protocol."""
    if cfg.protocol is None:
        return cfg
    given = {f.name: getattr(cfg, f.name) for f in fields(cfg) if getattr(cfg, f.name) != f.default}
    return replace(cfg, **{**eval_fields(cfg.protocol, dataset), **given})
