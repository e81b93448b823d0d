"""Stand-alone speed measurements (``python -m benchmarks.perf.<name>``)."""
