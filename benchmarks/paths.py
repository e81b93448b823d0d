"""Where ddbench keeps data, cached artifacts and reports (overridable by environment variables)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Artifacts, teachers and other re-creatable files: $DDBENCH_CACHE or ~/.cache/ddbench."""
    return Path(os.environ.get("DDBENCH_CACHE", Path.home() / ".cache" / "ddbench"))


def data_root() -> Path:
    """Where torchvision-layout datasets are looked for: $DDBENCH_DATA or <cache>/data."""
    return Path(os.environ.get("DDBENCH_DATA", cache_dir() / "data"))


def reports_dir() -> Path:
    """Generated reports and committed records: $DDBENCH_REPORTS or ./reports."""
    return Path(os.environ.get("DDBENCH_REPORTS", "reports"))
