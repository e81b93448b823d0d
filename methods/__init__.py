"""Label-centric methods (label distillation, soft labels, GIFT); importing registers them."""
