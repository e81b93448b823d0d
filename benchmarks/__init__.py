"""ddbench harness: data, models, optimizers, artifact, evaluator, store, suites and CLI."""

__version__ = "0.1.0"
