"""What a corruption and a corruption family are: the types the MNIST-C and CIFAR-10-C modules fill in.

A corruption maps a batch of [0, 1] images ([N, C, H, W]) at an integer severity to a batch of the
same shape, still in [0, 1], deterministically for a seed. Severity 0 is the identity everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from benchmarks.registry import Registry

# (images in [0, 1], severity >= 1, seed) -> corrupted images in [0, 1]
CorruptFn = Callable[[Tensor, int, int], Tensor]


@dataclass(frozen=True)
class Corruption:
    """One corruption: its function, the highest severity it defines, and the level used by default."""

    name: str
    apply: CorruptFn
    max_severity: int
    default_severities: tuple[int, ...]
    description: str = ""


@dataclass(frozen=True)
class CorruptionFamily:
    """The corruptions of one kind of dataset (MNIST-C for grey digits, CIFAR-10-C for colour)."""

    name: str
    corruptions: Registry[Corruption]
    default_corruptions: tuple[str, ...]
    default_epsilons: tuple[float, ...]  # L-inf attack budgets in pixel units, as DD-RobustBench uses them
    channels: int
    reference: str


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (name, severity, seed, chunk), stable across processes and platforms."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
