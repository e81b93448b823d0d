"""Where a benchmark's measurements go: its JSON document and the Markdown table rendered from it, side by side."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_bench(doc: dict[str, Any], out: str | Path, markdown: Callable[[dict[str, Any]], str]) -> str:
    """Write ``out`` (JSON) and ``out`` with ``.md`` (the rendered table); return the Markdown."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    text = markdown(doc)
    path.with_suffix(".md").write_text(text)
    return text
