"""Report generation from stored records (reads JSON only; never imports the harness)."""
