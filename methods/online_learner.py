"""The online learner of label distillation: a model with its Adam state, rebuilt on reset, and the rule that
says when to reset it (its moving-average target error stopped improving), which also yields the training
length the labels are judged at."""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ResetTracker:
    """Moving-average target error of the online learner; says when to reset it (no new minimum
    within ``gap`` steps) and remembers how many steps each run took to reach its minimum."""

    gap: int
    errors: deque = field(default_factory=deque)
    best: float = float("inf")
    best_step: int = 0
    step: int = 0
    lengths: list[int] = field(default_factory=list)

    def update(self, error: float) -> bool:
        self.step += 1
        self.errors.append(error)
        if len(self.errors) > self.gap:
            self.errors.popleft()
        if len(self.errors) < self.gap:
            return False
        avg = statistics.fmean(self.errors)
        if avg < self.best:
            self.best, self.best_step = avg, self.step
        if self.step - self.best_step >= self.gap:
            self.lengths.append(self.best_step)
            self.errors.clear()
            self.best, self.best_step, self.step = float("inf"), 0, 0
            return True
        return False

    def train_steps(self, fallback: int) -> int:
        """Mean of the last three reset lengths: the training length the labels are judged at."""
        return int(statistics.fmean(self.lengths[-3:])) if self.lengths else fallback


@dataclass
class Learner:
    """The online learner: a model, its Adam state, and how to rebuild both on reset."""

    make: Callable[[], nn.Module]
    lr: float
    model: nn.Module = field(init=False)
    opt: torch.optim.Optimizer = field(init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.model = self.make()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
