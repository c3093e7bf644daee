"""Trained models that survive a restart: train once, load from the cache afterwards.

- ``get_or_train`` keeps the course's own trained models in ``cache_dir()/"models"``.
- ``pretrained_or_course_model`` uses torchvision's pretrained weights when they are already
  on this machine, and the course's own model otherwise.

Nothing here downloads anything (unless you ask ``pretrained_or_course_model`` to, outside fast mode).
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import torch
from torch import nn

from cvcourse_utils.cache import cache_dir
from cvcourse_utils.device import get_device
from cvcourse_utils.fast import fast_mode


def save_atomically(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _source(fn: Callable) -> str:
    """The source code of fn (for a functools.partial: of its function, plus its arguments)."""
    if isinstance(fn, functools.partial):
        return _source(fn.func) + repr(fn.args) + repr(sorted(fn.keywords.items()))
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):  # built-ins, or code typed at a prompt: fall back on the name
        return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def model_key(name: str, build: Callable, train: Callable, config: Any) -> str:
    """A hash (hex) of everything that decides the trained weights: the name, the config, the
    source code of ``build`` and ``train``, and whether fast mode is on."""
    parts = [name, json.dumps(config, sort_keys=True, default=repr), _source(build), _source(train),
             f"fast={fast_mode()}"]
    return hashlib.sha256("\n\0".join(parts).encode()).hexdigest()


def model_path(name: str, build: Callable, train: Callable, config: Any) -> Path:
    """Where ``get_or_train`` keeps this model: ``cache_dir()/"models"/"<name>-<key[:12]>.pt"``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return cache_dir() / "models" / f"{safe}-{model_key(name, build, train, config)[:12]}.pt"


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped (Ctrl-C, or the notebook's stop button) before it finished; nothing was cached.

    A KeyboardInterrupt, so Run All stops here as before; Jupyter shows only its one-line message
    (``_render_traceback_``), not a traceback through the course package.
    """

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def _in_cache(path: Path) -> str:
    """``models/<file>``: where a model is, relative to the course cache (no home folder on a slide)."""
    try:
        return str(path.relative_to(cache_dir()))
    except ValueError:
        return path.name


def timing_path(path: str | Path) -> Path:
    """The JSON file beside a cached model that records how long its training took."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def recorded_training(name: str) -> dict | None:
    """What the newest cached ``name-*.pt`` of the current mode recorded about its training, or None.

    {"name", "seconds", "cpu_seconds", "load_average", "device", "fast", "finished"}: ``seconds`` is the
    wall-clock time, ``cpu_seconds`` this process's user + system time, ``load_average`` the 1-minute
    load at the end.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    records = []
    for file in (cache_dir() / "models").glob(f"{safe}-*.pt.json"):
        try:
            record = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        if record.get("name") == name and record.get("fast") == fast_mode():
            records.append(record)
    return max(records, key=lambda r: r.get("finished", ""), default=None)


def _duration(seconds: float) -> str:
    """12 s, 3.4 min."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _estimate(name: str) -> str:
    """How long training ``name`` takes: the last recorded time, else the course's measured figure."""
    record = recorded_training(name)
    if record is not None:
        return f"it took {_duration(record['seconds'])} on {record.get('device', 'this machine')} last time"
    from cvcourse_utils.prepare import expected_minutes, modules_needing

    minutes, modules = expected_minutes(name), modules_needing(name)
    if minutes is None or fast_mode():
        return "no time measured yet"
    before = f"; before class run `cvcourse prepare {' '.join(modules)}`" if modules else ""
    return f"about {minutes:.0f} min on a 2-core CPU{before}"


def _train_and_cache(name: str, model: nn.Module, train: Callable, config: Any, path: Path) -> None:
    """train(model, config), then save the weights and the time it took; an interruption caches nothing."""
    from datetime import datetime, timezone

    # "training 'x' (cached for next time" is what cvcourse slides looks for to say which models a run trained
    print(f"training {name!r} (cached for next time as {_in_cache(path)} in the course cache): {_estimate(name)}")
    began, cpu = time.perf_counter(), time.process_time()
    try:
        train(model, config)
    except TrainingInterrupted:
        raise  # a model trained inside this one's training was stopped: its message says enough
    except KeyboardInterrupt:
        from cvcourse_utils.prepare import modules_needing

        prepare = " ".join(["cvcourse prepare", *modules_needing(name)])
        raise TrainingInterrupted(f"training {name!r} was interrupted; nothing was cached. Run the cell again, "
                                  f"or `{prepare}` before class.") from None
    save_atomically({key: value.detach().cpu() for key, value in model.state_dict().items()}, path)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    record = {"name": name, "seconds": round(time.perf_counter() - began, 3),
              "cpu_seconds": round(time.process_time() - cpu, 3), "load_average": load,
              "device": str(next(model.parameters(), torch.empty(0)).device), "fast": fast_mode(),
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    timing_path(path).write_text(json.dumps(record, indent=1) + "\n")
    print(f"trained {name!r} in {_duration(record['seconds'])} (cached)")


def get_or_train(name: str, build: Callable[[Any], nn.Module], train: Callable[[nn.Module, Any], Any],
                 config: Any, *, device: torch.device | str | None = None) -> nn.Module:
    """``build(config)``, then load its trained weights from the cache, or train and cache them.

    The cache entry depends on ``name``, ``config`` (JSON, keys sorted), the source code of
    ``build`` and ``train`` and fast mode: change any of them and the model is trained again.
    ``train(model, config)`` trains in place (on any device); the weights are saved from the CPU
    and loaded onto the CPU first (``map_location="cpu"``). The model returned is on ``device``
    (default ``get_device()``) and in eval mode. A cached file that cannot be loaded is reported,
    trained again and overwritten; nothing else in the cache is touched. Before training it says
    how long it takes; after, it records the time beside the weights (``recorded_training``). An
    interrupted training caches nothing and raises :class:`TrainingInterrupted` with a one-line message.
    """
    device = torch.device(device) if device is not None else get_device()
    model = build(config)
    path = model_path(name, build, train, config)
    if path.exists():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # a truncated or corrupt file, or weights that no longer fit the model
            reason = f"{type(err).__name__}: {err}".splitlines()[0][:200]
            print(f"could not load the cached model {name!r} ({_in_cache(path)}: {reason}); "
                  "training it again and overwriting it")
            model = build(config)  # start from fresh weights, not half-loaded ones
        else:
            print(f"loaded cached model {name!r} ({_in_cache(path)} in the course cache)")
            return model.to(device).eval()
    _train_and_cache(name, model, train, config, path)
    return model.to(device).eval()


def _torchvision_name(weights) -> str:
    """ResNet18_Weights.IMAGENET1K_V1 -> "resnet18" (the builder torchvision registers for it)."""
    from torchvision import models

    for name in models.list_models():
        if models.get_model_weights(name) is type(weights):
            return name
    raise ValueError(f"{weights!r} is not the weights of any torchvision model")


def weights_file(weights) -> Path:
    """Where torchvision keeps the file of ``weights``: ``torch.hub.get_dir()/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def pretrained_or_course_model(weights, fallback: Callable[[], nn.Module], *, download: bool = False,
                               **kwargs: Any) -> nn.Module:
    """torchvision's pretrained model when its weights are on this machine, else ``fallback()``.

    weights: a torchvision weights enum member (``ResNet18_Weights.DEFAULT``) or a model name
    (``"resnet18"``, meaning its default weights). The weights file is looked for where torchvision
    keeps it (``weights_file``); it is downloaded only if ``download=True`` and fast mode is off.
    kwargs go to the torchvision builder. fallback: builds the course's own model, e.g.
    ``lambda: get_or_train(...)``. Either way the model is returned in eval mode.
    """
    from torchvision import models

    if isinstance(weights, str):
        name, weights = weights, models.get_model_weights(weights).DEFAULT
    else:
        name = _torchvision_name(weights)
    file = weights_file(weights)
    if file.exists() or (download and not fast_mode()):
        try:
            model = models.get_model(name, weights=weights, **kwargs)
            print(f"using torchvision's {name} with pretrained weights {weights}")
            return model.eval()
        except Exception as err:  # offline, or a damaged file
            print(f"could not load torchvision's weights {weights} ({type(err).__name__}: {err}); "
                  "using the course model instead")
    else:
        print(f"torchvision's pretrained weights {weights} are not on this machine ({file}); "
              "using the course model instead")
    return fallback().eval()
