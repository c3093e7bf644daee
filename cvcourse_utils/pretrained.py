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


def get_or_train(name: str, build: Callable[[Any], nn.Module], train: Callable[[nn.Module, Any], Any],
                 config: Any, *, device: torch.device | str | None = None) -> nn.Module:
    """``build(config)``, then load its trained weights from the cache, or train and cache them.

    The cache entry depends on ``name``, ``config`` (JSON, keys sorted), the source code of
    ``build`` and ``train`` and fast mode: change any of them and the model is trained again.
    ``train(model, config)`` trains in place (on any device); the weights are saved from the CPU
    and loaded onto the CPU first (``map_location="cpu"``). The model returned is on ``device``
    (default ``get_device()``) and in eval mode. A cached file that cannot be loaded is reported,
    trained again and overwritten; nothing else in the cache is touched.
    """
    device = torch.device(device) if device is not None else get_device()
    model = build(config)
    path = model_path(name, build, train, config)
    if path.exists():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # a truncated or corrupt file, or weights that no longer fit the model
            reason = f"{type(err).__name__}: {err}".splitlines()[0][:200]
            print(f"could not load the cached model {path} ({reason}); training it again and overwriting it")
            model = build(config)  # start from fresh weights, not half-loaded ones
        else:
            print(f"loaded cached model {name!r} from {path}")
            return model.to(device).eval()
    print(f"training {name!r} (cached for next time in {path})")
    train(model, config)
    save_atomically({key: value.detach().cpu() for key, value in model.state_dict().items()}, path)
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
