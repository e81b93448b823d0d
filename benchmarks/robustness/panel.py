"""The robustness panel of one trained model: corrupted-test accuracy and adversarial accuracy.

``RobustnessSpec`` says what to measure ("default" picks the dataset family's corruptions, severities
and epsilons); ``robustness_panel`` measures it and returns a JSON-able dict for the record. Clean and
corrupted inference may run in bf16 autocast; attacks always run in fp32 on a seeded test subset.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.robustness.attacks import (
    ATTACKS,
    PGD_STEP_FACTOR,
    NormalizedModel,
    adversarial_accuracy,
    attack_subset,
    clean_accuracy,
)
from benchmarks.robustness.base import CorruptionFamily
from benchmarks.robustness.cache import CODE_VERSION, corrupted_test_set
from benchmarks.robustness.corruptions import FAMILIES, check_severity, family_for

DEFAULT = "default"
PANEL_PRECISIONS = ("fp32", "bf16")
INFERENCE_BATCH = {"cpu": 64, "cuda": 1024}  # clean / corrupted inference: the evaluator's test batches


@dataclass(frozen=True)
class RobustnessSpec:
    """What the panel measures; "default" means the dataset family's corruptions, severities, epsilons."""

    corruptions: tuple[str, ...] | str = DEFAULT
    severities: tuple[int, ...] | str = DEFAULT
    attacks: tuple[str, ...] = ("fgsm", "pgd")
    epsilons: tuple[float, ...] | str = DEFAULT
    subset: int = 1000
    pgd_steps: int = 10
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RobustnessSpec:
        """Build from a suite's ``[robustness]`` table (lists become tuples) and check it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"unknown robustness setting(s) {unknown}; known: {sorted(known)}")
        spec = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        spec.check()
        return spec

    def families(self, data: RealData | None) -> list[CorruptionFamily]:
        """The family of ``data``, or every family when the dataset is not known yet."""
        return [family_for(data)] if data is not None else [f for _, f in FAMILIES.items()]

    def corruption_names(self, family: CorruptionFamily) -> tuple[str, ...]:
        return family.default_corruptions if self.corruptions == DEFAULT else tuple(self.corruptions)

    def severities_of(self, family: CorruptionFamily, name: str) -> tuple[int, ...]:
        if self.severities == DEFAULT:
            return family.corruptions.get(name).default_severities
        return tuple(self.severities)

    def epsilons_of(self, family: CorruptionFamily) -> tuple[float, ...]:
        return family.default_epsilons if self.epsilons == DEFAULT else tuple(float(e) for e in self.epsilons)

    def check(self, data: RealData | None = None) -> None:
        """One clear UserError for unknown names, epsilons outside [0, 1], severities outside the defined range."""
        for name, value in (("corruptions", self.corruptions), ("severities", self.severities),
                            ("epsilons", self.epsilons)):
            if isinstance(value, str) and value != DEFAULT:
                raise UserError(f"robustness {name} must be a list or {DEFAULT!r}, got {value!r}")
        for attack in self.attacks:
            ATTACKS.get(attack)
        for e in () if self.epsilons == DEFAULT else self.epsilons:
            if isinstance(e, bool) or not isinstance(e, int | float) or not (0.0 <= e <= 1.0):
                raise UserError(f"epsilon {e!r} is outside [0, 1] (pixel units: 8/255 = {8 / 255:.6f})")
        for name, value in (("subset", self.subset), ("pgd_steps", self.pgd_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"robustness {name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UserError(f"robustness seed must be an integer, got {self.seed!r}")
        families = self.families(data)
        for name in () if self.corruptions == DEFAULT else self.corruptions:
            owners = [f for f in families if name in f.corruptions]
            if not owners:
                families[0].corruptions.get(name)  # raises with close-match suggestions
            for family in owners:
                for severity in self.severities_of(family, name):
                    check_severity(family.corruptions.get(name), severity)
        if self.corruptions == DEFAULT and self.severities != DEFAULT:
            # Without the dataset only the widest range is known; with it, every default corruption's own.
            names = [(f, n) for f in families for n in f.default_corruptions]
            widest = max(names, key=lambda fn: fn[0].corruptions.get(fn[1]).max_severity)
            for family, name in names if data is not None else [widest]:
                for severity in self.severities:
                    check_severity(family.corruptions.get(name), severity)

    def resolved(self, data: RealData) -> dict[str, Any]:
        """The concrete settings for ``data`` (defaults filled in): what a record stores and hashes."""
        family = family_for(data)
        names = self.corruption_names(family)
        return {**asdict(self), "family": family.name, "code_version": CODE_VERSION,
                "corruptions": list(names), "severities": {n: list(self.severities_of(family, n)) for n in names},
                "attacks": list(self.attacks), "epsilons": list(self.epsilons_of(family))}


def _autocast(device: torch.device, precision: str) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def inference_accuracy(model: nn.Module, x: Tensor, y: Tensor, device: torch.device, precision: str,
                       batch: int | None = None) -> float:
    """Top-1 accuracy (percent) of a [0, 1]-input model, batched, in bf16 autocast when asked."""
    batch = batch or INFERENCE_BATCH.get(device.type, 500)
    correct = 0
    with torch.inference_mode(), _autocast(device, precision):
        for i in range(0, len(y), batch):
            correct += int((model(x[i : i + batch].to(device)).argmax(1).cpu() == y[i : i + batch]).sum())
    return 100.0 * correct / max(1, len(y))


def _r(v: float) -> float:
    return round(v, 4)


def _eps_key(eps: float) -> str:
    return f"{eps:.6g}"


def robustness_panel(model: nn.Module, data: RealData, spec: RobustnessSpec, device: torch.device,
                     precision: str, *, batch_size: int | None = None) -> dict[str, Any]:
    """Measure ``spec`` on a trained model: accuracy on each corrupted test split, their mean, and
    accuracy under each attack and epsilon on the seeded subset. The model is left as it was found."""
    if precision not in PANEL_PRECISIONS:
        raise UserError(f"panel precision must be one of {PANEL_PRECISIONS}, got {precision!r}")
    spec.check(data)
    family = family_for(data)
    wrapped = NormalizedModel(model, data.normalize)
    was_training = model.training
    wrapped.eval()  # the wrapper too: torchattacks restores the mode it finds on the module it is given
    start = time.perf_counter()
    cost = {"corrupt_data_s": 0.0, "corrupt_eval_s": 0.0, "attack_s": 0.0}
    try:
        t = time.perf_counter()
        clean = inference_accuracy(wrapped, data.test_x, data.test_y, device, precision, batch_size)
        cost["clean_eval_s"] = time.perf_counter() - t
        by_severity: dict[str, dict[str, float]] = {}
        for name in spec.corruption_names(family):
            by_severity[name] = {}
            for severity in spec.severities_of(family, name):
                t = time.perf_counter()
                x = corrupted_test_set(data, family, name, severity, spec.seed)
                cost["corrupt_data_s"] += time.perf_counter() - t
                t = time.perf_counter()
                by_severity[name][str(severity)] = inference_accuracy(wrapped, x, data.test_y, device, precision,
                                                                      batch_size)
                cost["corrupt_eval_s"] += time.perf_counter() - t
        per_corruption = {n: sum(v.values()) / len(v) for n, v in by_severity.items()}
        t = time.perf_counter()
        sx, sy = attack_subset(data.test_x, data.test_y, spec.subset, spec.seed)
        subset_clean = clean_accuracy(wrapped, sx, sy, device)
        attacked = {a: {_eps_key(e): _r(adversarial_accuracy(wrapped, a, sx, sy, e, spec.pgd_steps, data.num_classes,
                                                               spec.seed, device))
                        for e in spec.epsilons_of(family)}
                    for a in spec.attacks}
        cost["attack_s"] = time.perf_counter() - t
    finally:
        model.train(was_training)
    cost["wall_s"] = time.perf_counter() - start
    mean = sum(per_corruption.values()) / len(per_corruption) if per_corruption else math.nan
    return {
        "family": family.name,
        "seed": spec.seed,
        "precision": precision,
        "clean_acc": _r(clean),
        "corruption_acc": {n: _r(v) for n, v in per_corruption.items()},
        "corruption_acc_by_severity": {n: {s: _r(a) for s, a in v.items()} for n, v in by_severity.items()},
        "mean_corruption_acc": _r(mean) if per_corruption else None,
        "attack_subset": len(sy),
        "attack_clean_acc": _r(subset_clean),
        "attack_acc": attacked,
        "epsilons": list(spec.epsilons_of(family)),
        "pgd_steps": spec.pgd_steps,
        "pgd_step_size": f"{PGD_STEP_FACTOR} * eps / {spec.pgd_steps}",
        "cost": {k: round(v, 3) for k, v in cost.items()},
    }
