"""Coreset and image-distillation baselines. Every module here is a plug-in: the harness imports them
all (``benchmarks.registry.load_plugins``), so a new baseline is one new file."""
