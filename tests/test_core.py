"""The core of cvcourse_utils: device choice, seeding, fast mode, the cache folder, the install."""
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from cvcourse_utils import autocast, fast_mode, get_device, per_mode, seed_everything
from cvcourse_utils.cache import cache_dir
from cvcourse_utils.device import DeviceUnavailableError


def test_cpu_can_always_be_forced(monkeypatch):
    monkeypatch.setenv("CVCOURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_automatic_choice_prefers_cuda(monkeypatch):
    monkeypatch.delenv("CVCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CVCOURSE_DEVICE", "cuda")
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU"):
        get_device()


def test_unknown_device_name_lists_valid_ones():
    with pytest.raises(DeviceUnavailableError, match="cpu, cuda, mps"):
        get_device("tpu")


def test_autocast_is_a_no_op_on_cpu():
    with autocast("cpu"):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_fast_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv("CVCOURSE_FAST", "1")
    assert fast_mode() and per_mode(full=100, fast=3) == 3
    monkeypatch.setenv("CVCOURSE_FAST", "0")
    assert not fast_mode() and per_mode(full=100, fast=3) == 100


def test_cache_dir_follows_cvcourse_data(cache):
    assert cache_dir() == cache and cache.is_dir()


def test_torch_and_torchvision_are_a_working_pair():
    from torchvision.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
    assert nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]


def test_doctor_reports_a_healthy_install(cache):
    out = subprocess.run([sys.executable, "-m", "cvcourse_utils.cli", "doctor"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for word in ("torch", "torchvision", "jupyterlab", "ipywidgets", "device", "nms kept [0, 2]", str(cache)):
        assert word in out.stdout


def test_doctor_fails_with_advice_when_a_package_is_missing(monkeypatch, capsys):
    from cvcourse_utils import cli

    real = cli._version
    monkeypatch.setattr(cli, "_version", lambda d: None if d == "ipywidgets" else real(d))
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "ipywidgets is not installed" in out and "make lab" in out


def test_best_time_is_the_fastest_run_and_refuses_zero_repeats():
    from cvcourse_utils.timing import best_time

    calls = []
    assert best_time(lambda x: calls.append(x), 7, repeats=3) >= 0 and calls == [7, 7, 7]
    with pytest.raises(ValueError, match="repeats"):
        best_time(print, repeats=0)
