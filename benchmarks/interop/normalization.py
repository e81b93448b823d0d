"""Which mean/std a released tensor file is normalised with, and moving between that space and [0, 1].

``norm="dataset"`` uses ddbench's own statistics (``RealData.mean/std``, from the train split);
``"published"`` the constants hard-coded in the codebase that writes the format (they differ:
DatasetCondensation's CIFAR-10 std is 0.2023 where the train split's is about 0.247, and MTT and
DD-Ranking normalise CIFAR-100 with CIFAR-10's numbers); ``"auto"`` takes the published constants
where that codebase has them for the dataset and the dataset's own otherwise. Explicit ``mean``/``std``
options override all three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop.formats import Options

StatsTable = Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]]


@dataclass(frozen=True)
class Stats:
    """Per-channel mean and std and where they came from."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str

    def _view(self, values: tuple[float, ...], x: Tensor) -> Tensor:
        return torch.tensor(values, dtype=x.dtype).view(1, -1, 1, 1)

    def normalize(self, x: Tensor) -> Tensor:
        """[0, 1] pixels -> the normalised space the format stores."""
        return (x - self._view(self.mean, x)) / self._view(self.std, x)

    def denormalize(self, x: Tensor) -> Tensor:
        """The stored normalised values -> pixels (not yet clipped to [0, 1])."""
        return x * self._view(self.std, x) + self._view(self.mean, x)

    def as_meta(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "source": self.source}


def _dataset(data: RealData, table: StatsTable, codebase: str) -> Stats:
    return Stats(tuple(data.mean), tuple(data.std), f"dataset: ddbench's {data.name} train-split statistics")


def _published(data: RealData, table: StatsTable, codebase: str) -> Stats:
    if data.name not in table:
        have = ", ".join(sorted(table)) or "no dataset"
        raise UserError(f"{codebase} has no published normalisation for {data.name!r} (it has {have}); "
                        "use norm 'dataset' or give mean and std")
    mean, std = table[data.name]
    return Stats(tuple(mean), tuple(std), f"published: {codebase}'s constants for {data.name}")


def _auto(data: RealData, table: StatsTable, codebase: str) -> Stats:
    return _published(data, table, codebase) if data.name in table else _dataset(data, table, codebase)


NORM_SOURCES: dict[str, Callable[[RealData, StatsTable, str], Stats]] = {
    "dataset": _dataset,
    "published": _published,
    "auto": _auto,
}


def resolve_stats(data: RealData, opts: Options, table: StatsTable, codebase: str) -> Stats:
    """The statistics to use for ``data`` under ``opts`` for a format written by ``codebase``."""
    if opts.mean is not None and opts.std is not None:
        stats = Stats(opts.mean, opts.std, "explicit: given as options")
    else:
        stats = NORM_SOURCES[opts.norm](data, table, codebase)
    if len(stats.mean) != data.channels or len(stats.std) != data.channels:
        raise UserError(f"mean/std have {len(stats.mean)}/{len(stats.std)} values but {data.name} has "
                        f"{data.channels} channel(s)")
    return stats
