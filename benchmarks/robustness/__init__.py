"""Robustness panel: MNIST-C / CIFAR-10-C corruptions and torchattacks L-inf attacks on trained models."""

from benchmarks.robustness.panel import RobustnessSpec, robustness_panel

__all__ = ["RobustnessSpec", "robustness_panel"]
