"""Models ready before class: ``cvcourse prepare [NN ...]`` trains every cached model a module needs.

Most trained models come from ``get_or_train``: the first notebook that asks for one trains it (minutes on
a laptop CPU, an hour for module 11) and every later one loads it. ``prepare`` does that training ahead of
time, in the mode the lectures will run in (full mode unless ``CVCOURSE_FAST=1``), with one overall bar,
a bar per model and an estimate, and says what is already cached::

    cvcourse prepare 11          # the models of module 11 (its lecture and lab)
    cvcourse prepare             # every module's
    cvcourse prepare --check 11  # only report what is cached

This file is the one place that says which module needs which model: ``MODELS`` (how to get each model,
and its measured full-mode training time on a 2-core CPU) and ``MODULES`` (module -> model names).
Lectures 04, 07 and 08 define their models in the notebook itself (the code is what they teach), so
"preparing" them runs that lecture, in a fresh kernel, from the top to its last ``get_or_train`` cell.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tqdm.auto import tqdm

from cvcourse_utils.cache import cache_dir
from cvcourse_utils.fast import fast_mode

__all__ = ["CachedModel", "LectureModels", "MODELS", "MODULES", "expected_minutes", "module_minutes", "modules_needing",
           "prepare", "prepare_note"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CachedModel:
    """A model a library function trains once with ``get_or_train``.

    load: trains it or loads it from the cache (``course_backbone``); path: where ``get_or_train`` keeps it
    for the current config and mode; minutes: its full-mode training time measured on a 2-core CPU.
    """

    name: str
    what: str
    load: Callable[[], object]
    path: Callable[[], Path]
    minutes: float

    def cached(self) -> bool:
        return self.path().exists()

    def prepare(self) -> None:
        self.load()


@dataclass(frozen=True)
class LectureModels:
    """Models a lecture defines and trains in its own cells (``get_or_train`` there too).

    Preparing runs the lecture's code cells in a fresh kernel, from the top to the last cell that calls
    ``get_or_train``; a stamp in the cache (keyed by those cells' code and the mode) says it was done.
    """

    name: str
    what: str
    notebook: str
    minutes: float
    timeout: float = 4 * 3600
    root: Path = field(default=ROOT, compare=False)

    def _cells(self) -> list[str]:
        from cvcourse_utils.notebooks import cell_source, read_notebook

        code = [cell_source(c) for c in read_notebook(self.root / self.notebook)["cells"] if c["cell_type"] == "code"]
        last = max((i for i, source in enumerate(code) if "get_or_train(" in source), default=-1)
        if last < 0:
            raise ValueError(f"{self.notebook} has no cell that calls get_or_train")
        return code[:last + 1]

    def stamp(self) -> Path:
        digest = hashlib.sha256("\n\0".join([*self._cells(), f"fast={fast_mode()}"]).encode()).hexdigest()
        return cache_dir() / "prepared" / f"{self.name}-{digest[:12]}.json"

    def cached(self) -> bool:
        stamp = self.stamp()
        if not stamp.exists():
            return False
        files = json.loads(stamp.read_text()).get("models", [])
        return all((cache_dir() / file).exists() for file in files)

    def prepare(self) -> None:
        import os

        from cvcourse_utils.execute import execute_notebook

        cells = self._cells()
        nb = {"cells": [{"cell_type": "code", "source": source, "metadata": {}, "outputs": []} for source in cells]}
        began = time.perf_counter()
        with tqdm(total=1, desc=f"{self.notebook} (cells 1-{len(cells)})", bar_format="{desc}: {elapsed}") as bar:
            done = execute_notebook(nb, cwd=(self.root / self.notebook).parent, timeout=self.timeout,
                                    env={**os.environ, "MPLBACKEND": "agg"})
            bar.update(1)
        printed = "".join(o.get("text", "") for c in done["cells"] for o in c["outputs"] if o["output_type"] == "stream")
        files = sorted(set(re.findall(r"\b(models/[^\s)]+\.pt)\b", printed)))
        record = {"notebook": self.notebook, "models": files, "seconds": round(time.perf_counter() - began, 1)}
        stamp = self.stamp()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(record, indent=1) + "\n")


def _library_model(name: str, what: str, minutes: float, module: str, build: str, train: str, config: str,
                   load: str, *, cached_as: str | None = None) -> CachedModel:
    """A CachedModel whose functions are looked up in ``cvcourse_utils.<module>`` only when used.

    ``cached_as``: the name ``get_or_train`` files the model under, for a second configuration of a model
    (its ``load`` is then called with that ``config``).
    """
    import importlib

    def attr(attribute: str):
        return getattr(importlib.import_module(f"cvcourse_utils.{module}"), attribute)

    def path() -> Path:
        from cvcourse_utils.pretrained import model_path

        return model_path(cached_as or name, attr(build), attr(train), attr(config)())

    def load_it():
        return attr(load)(attr(config)()) if cached_as else attr(load)()

    return CachedModel(name, what, load_it, path, minutes)


# Full-mode training minutes on a 2-core CPU, one torch thread (as `cvcourse prepare` trains). Measured 2026-12-06 on
# the course's shared 2-core machine as the process's CPU time (user + system), the wall time of an idle core:
# backbone 4.0, toy CLIP 1.7, tiny ViT 0.9, digits judge 0.7, shape judge 0.4. The digits diffusion (scale-shift
# blocks, 2,000 steps: 6.4 CPU-min) and the pixel-space text-to-image model (3,000 steps: 11.5 CPU-min) were measured
# the same way by bench_module11 on 2026-12-06, after the models they replaced (8.6 and 7.8 CPU-min). Not measured here: lecture 04 (an estimate), lectures 07 and 08
# (benchmarks/RESULTS.md, 2026-12-01: FCN 7.9 + U-Net 15.0 + LR-ASPP 2.5 min; one-stage 3.2 + Faster R-CNN 4.4 +
# Mask R-CNN 6.8 min); MAE 1.4 CPU-min (RESULTS.md, bench_module12, 2026-12-06); SimCLR 17.4 CPU-min
# (issue 33's recipe, width 24, 1,800 steps; 8.8 min wall with 2 threads on the idle machine, 2026-12-07: one thread
# needs about its CPU time); DINO 6.8 CPU-min (issue 33:
# 600 steps without colour changes, 24.0 min wall at load 7, 2026-12-06).
# A fresh-machine run (empty cache, `cvcourse prepare 11`, full mode, nice 5, 2026-12-06, load 6-9 falling to 3) measured
# CPU-min: digits judge 0.71, digits diffusion 6.76, toy CLIP 2.08, text-to-image 13.9, backbone 6.7 (4.0 before, same
# model), shape judge 0.65 (0.4 before); the four more than ~20 % off the figures above
# (judge, text-to-image, backbone, shape judge) are the minutes used below.
MODELS: dict[str, CachedModel | LectureModels] = {model.name: model for model in [
    _library_model("course_backbone_resnet14_shapes", "the course backbone (ResNet-14 on cluttered shapes)", 6.7,
                   "backbone", "build_backbone", "train_backbone", "backbone_config", "course_backbone"),
    _library_model("toy_clip", "the toy CLIP (captioned shapes)", 2.0,
                   "clip", "build_toy_clip", "train_toy_clip", "toy_clip_config", "load_toy_clip"),
    _library_model("tiny_vit", "the tiny ViT (digits)", 1.0,
                   "vit", "build_tiny_vit", "train_tiny_vit", "digits_vit_config", "load_tiny_vit"),
    CachedModel("judge_digits", "the digits judge (sample quality, FID)",
                lambda: __import__("cvcourse_utils.judge", fromlist=["load_judge"]).load_judge("digits", device="cpu"),
                lambda: __import__("cvcourse_utils.judge", fromlist=["judge_path"]).judge_path("digits"), 0.7),
    _library_model("digits_diffusion", "the class-conditional digits diffusion model", 6.5,
                   "diffusion", "build_digits_diffusion", "train_digits_diffusion", "digits_diffusion_config",
                   "load_digits_diffusion"),
    _library_model("shapes_text_to_image", "the text-to-image model (pixel space, 4x4 patches)", 13.9,
                   "latent_diffusion", "build_text_to_image", "train_text_to_image", "text_to_image_config",
                   "load_text_to_image"),
    _library_model("captions_shape_judge", "the shape judge of the text-to-image samples", 0.7,
                   "latent_diffusion", "_build_shape_judge", "_train_shape_judge", "shape_judge_config",
                   "load_shape_judge"),
    _library_model("simclr_shapes", "the SimCLR encoder (self-supervised, shapes)", 17.4,
                   "selfsup", "build_simclr", "train_simclr", "simclr_config", "load_simclr"),
    _library_model("dino_shapes", "the DINO ViT (self-supervised, shapes)", 6.8,
                   "selfsup", "build_dino", "train_dino", "dino_config", "load_dino"),
    _library_model("dino_shapes_without_centring", "DINO without centring (lecture 12's collapsed run)", 2.8,
                   "selfsup", "build_dino", "train_dino", "collapsed_dino_config", "load_dino", cached_as="dino_shapes"),
    _library_model("mae_shapes", "the masked autoencoder (self-supervised, shapes)", 1.4,
                   "selfsup", "build_mae", "train_mae", "mae_config", "load_mae"),
    LectureModels("lecture04", "lecture 04's SmallCNN (trained in the lecture)", "lectures/04_convolutional_networks.ipynb",
                  2.0),
    LectureModels("lecture07", "lecture 07's FCN, U-Net and LR-ASPP (trained in the lecture)",
                  "lectures/07_semantic_segmentation.ipynb", 27.0),
    LectureModels("lecture08", "lecture 08's one-stage detector, Faster and Mask R-CNN (trained in the lecture)",
                  "lectures/08_object_detection.ipynb", 16.0),
]}

# Which models each module's lecture and lab need, in the order to prepare them (a model after those it uses).
MODULES: dict[str, tuple[str, ...]] = {
    "01": (), "02": (), "03": (),
    "04": ("lecture04",),
    "05": ("course_backbone_resnet14_shapes",),
    "06": ("toy_clip", "tiny_vit"),
    "07": ("lecture07",),
    "08": ("course_backbone_resnet14_shapes", "lecture08"),
    "09": ("course_backbone_resnet14_shapes",),
    "10": ("judge_digits",),
    "11": ("judge_digits", "digits_diffusion", "toy_clip", "shapes_text_to_image", "course_backbone_resnet14_shapes",
           "captions_shape_judge"),
    "12": ("simclr_shapes", "dino_shapes", "dino_shapes_without_centring", "mae_shapes"),
}


def expected_minutes(name: str) -> float | None:
    """The measured full-mode training time of model ``name`` on a 2-core CPU, or None if it is not listed."""
    model = MODELS.get(name)
    return None if model is None else model.minutes


def modules_needing(name: str) -> list[str]:
    """The modules whose lecture or lab needs model ``name``."""
    return [module for module, names in MODULES.items() if name in names]


def module_minutes(module: str) -> int:
    """The measured full-mode time to train every model module ``module`` needs on a 2-core CPU (whole minutes)."""
    return round(sum(MODELS[name].minutes for name in MODULES[module]))


def prepare_note(module: str) -> str:
    """The note at the top of a lecture whose module needs trained models (a test checks the lecture has it)."""
    return (f"**Before class:** run `cvcourse prepare {module}` once in a terminal. It trains the models this module's "
            f"lecture and lab load (about {module_minutes(module)} min on a 2-core CPU, less on a GPU); afterwards "
            "they load from the cache in seconds.")


def _wanted(modules: Iterable[str], registry: dict, module_map: dict) -> list:
    """The models the modules need, each once, in order. Raises ValueError for an unknown module."""
    names: list[str] = []
    for module in modules:
        key = str(module).zfill(2)
        if key not in module_map:
            raise ValueError(f"no module {module!r}: the modules are {', '.join(module_map)}")
        names += [name for name in module_map[key] if name not in names]
    return [registry[name] for name in names]


def prepare(modules: Iterable[str] = (), *, check: bool = False, registry: dict | None = None,
            module_map: dict | None = None, out: Callable[[str], None] = print) -> int:
    """Train (or, with ``check``, only report) every model that ``modules`` need (none given: every module).

    Returns the number of models still missing (0 when everything is ready). registry and module_map
    default to ``MODELS`` and ``MODULES`` (tests pass small fake ones).
    """
    registry = MODELS if registry is None else registry
    module_map = MODULES if module_map is None else module_map
    wanted = _wanted(list(modules) or list(module_map), registry, module_map)
    mode = "fast mode (CVCOURSE_FAST=1)" if fast_mode() else "full mode"
    cached = [model for model in wanted if model.cached()]
    missing = [model for model in wanted if not model.cached()]
    for model in cached:
        out(f"cached       {model.name}: {model.what}")
    minutes = sum(model.minutes for model in missing)
    for model in missing:
        out(f"{'missing' if check else 'to train'}     {model.name}: {model.what} (about {model.minutes:g} min)")
    if not wanted:
        out("These modules need no trained model.")
        return 0
    if not missing:
        out(f"All {len(wanted)} models are ready ({mode}).")
        return 0
    if check:
        out(f"{len(missing)} of {len(wanted)} models are not cached ({mode}); `cvcourse prepare` trains them "
            f"in about {minutes:g} min on a 2-core CPU.")
        return len(missing)
    out(f"Training {len(missing)} models in {mode}: about {minutes:g} min on a 2-core CPU (less on a GPU).")
    began = time.perf_counter()
    with tqdm(total=round(minutes, 1), desc="prepare", unit="est. min", bar_format=(
            "{desc}: {percentage:3.0f}%|{bar}| {n:g}/{total:g} est. min [{elapsed}<{remaining}]")) as overall:
        for model in missing:
            overall.set_postfix_str(model.name)
            started = time.perf_counter()
            if not model.cached():  # another model's training may have trained it already
                model.prepare()
            out(f"ready        {model.name} ({(time.perf_counter() - started) / 60:.1f} min)")
            overall.update(model.minutes)
    out(f"Done: {len(missing)} models trained in {(time.perf_counter() - began) / 60:.1f} min ({mode}).")
    return sum(not model.cached() for model in wanted)
