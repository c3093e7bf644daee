import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CVCOURSE_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Two cores run two test workers; more threads per worker only make tiny models slower.
torch.set_num_threads(1)


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty data cache for one test."""
    monkeypatch.setenv("CVCOURSE_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"
