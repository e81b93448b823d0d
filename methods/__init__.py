"""Label-centric methods (label distillation, soft labels, GIFT); importing registers them."""

from methods import base_labels, label_distillation, ridge_ld, soft_labels  # noqa: F401
