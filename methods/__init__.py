"""Label-centric methods (label distillation, soft labels, GIFT). Every module here is a plug-in: the
harness imports them all (``benchmarks.registry.load_plugins``), so a new method is one new file."""
