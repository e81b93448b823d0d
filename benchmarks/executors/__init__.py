"""Executors: where a run's cells are computed (``inprocess``, ``local``, ``ray``), registered by name in ``EXECUTORS``."""

from __future__ import annotations

from typing import Any

from benchmarks.executors.base import EXECUTORS, Executor


def make_executor(name: str, **options: Any) -> Executor:
    """The executor registered as ``name``, built from its options (see each executor's dataclass)."""
    from benchmarks.executors import inprocess, local, ray_executor  # noqa: F401  (they register themselves)

    return EXECUTORS.get(name)(**options)
