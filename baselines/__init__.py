"""Coreset and image-distillation baselines; importing this package registers them."""

from baselines import dd, full, herding, kcenter, matching, mtt, random_subset  # noqa: F401
