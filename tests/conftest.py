"""Shared fixtures: real digits data on the CPU, and an isolated cache per test session."""

from __future__ import annotations

import pytest
import torch

from benchmarks.allocator import keep_freed_memory
from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData, load_dataset

keep_freed_memory()  # as the ddbench command does: the tests run the same code paths, faster


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("DDBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def digits() -> RealData:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def cpu() -> torch.device:
    return torch.device("cpu")


@pytest.fixture(scope="session")
def digits_full(digits: RealData) -> DistilledSet:
    return DistilledSet(digits.train_x, digits.train_y, "hard", digits.num_classes, meta={"dataset": "digits"})
