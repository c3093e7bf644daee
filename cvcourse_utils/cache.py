"""The one folder where datasets and trained course models are kept."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$CVCOURSE_DATA`` if set, else ``~/.cache/cvcourse``; created on first use."""
    root = os.environ.get("CVCOURSE_DATA")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "cvcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path
