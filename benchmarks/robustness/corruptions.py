"""The corruption families, which family a dataset gets, and one entry point to corrupt a batch.

A dataset's family follows from its channels: grey images get MNIST-C, colour images CIFAR-10-C.
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.registry import Registry
from benchmarks.robustness import cifar_c, mnist_c
from benchmarks.robustness.base import Corruption, CorruptionFamily, derive_seed

FAMILIES: Registry[CorruptionFamily] = Registry("corruption family")
for _family in (mnist_c.FAMILY, cifar_c.FAMILY):
    FAMILIES.register(_family.name, _family)


def family_for(data: RealData) -> CorruptionFamily:
    """The corruption family of a dataset, chosen by its number of channels."""
    for _, family in FAMILIES.items():
        if family.channels == data.channels:
            return family
    raise UserError(f"no corruption family for {data.name}'s {data.channels}-channel images")


def check_severity(corruption: Corruption, severity: int) -> None:
    """Severity 0 is the identity; 1..max_severity are the corruption's defined levels."""
    if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= corruption.max_severity:
        raise UserError(f"severity {severity!r} is outside {corruption.name}'s range 0..{corruption.max_severity}")


def corrupt(x: Tensor, family: CorruptionFamily, name: str, severity: int, seed: int) -> Tensor:
    """Corrupt [0, 1] images ([N, C, H, W]) deterministically for (name, severity, seed); severity 0 copies."""
    corruption = family.corruptions.get(name)
    check_severity(corruption, severity)
    if x.ndim != 4 or x.shape[1] != family.channels:
        raise UserError(f"{family.name} corrupts [N, {family.channels}, H, W] images, got {tuple(x.shape)}")
    if severity == 0:
        return x.clone()
    with torch.no_grad():
        out = corruption.apply(x, severity, derive_seed(family.name, name, severity, seed))
    return out.clamp(0, 1)
