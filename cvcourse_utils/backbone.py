"""The course's pretrained backbone: a small ResNet trained once on cluttered shapes, then cached.

Modules 05 (transfer learning), 07 (segmentation), 08 (detection) and 09 (visualisation) reuse
one network instead of each training its own::

    from cvcourse_utils.backbone import course_backbone
    model = course_backbone()             # CifarResNet, eval mode, on get_device()
    maps = model.features(images)         # (N, 3, 32, 32) -> (N, 64, 8, 8); model.feature_channels == 64
    logits = model.head(maps)             # (N, 5): circle, square, triangle, star, cross

The source task is the 5-class ``load_dataset("shapes", difficulty="cluttered")``: only the
outline tells the classes apart, so the features learn edges, corners and curvature rather than
colour. The first call trains it (``get_or_train``: a few seconds in fast mode, a few minutes
on a laptop CPU in full mode) and every later call loads it from ``cache_dir()/"models"``.
The target task of module 05 is the other set of shapes, ``class_set="new"`` (pentagon, diamond,
arrow, ell, tee), which the backbone never saw.

Inputs are images in [0, 1] as ``load_dataset`` returns them (no mean/std normalisation).
``pretrained_or_course_model("resnet18", fallback=course_backbone)`` prefers torchvision's
ImageNet weights when they are on disk; for 32x32 shapes the course backbone is the better fit.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from cvcourse_utils.fast import per_mode
from cvcourse_utils.models import CifarResNet
from cvcourse_utils.pretrained import get_or_train
from cvcourse_utils.seeding import seed_everything

__all__ = ["BACKBONE_NAME", "backbone_config", "build_backbone", "course_backbone", "train_backbone"]

BACKBONE_NAME = "course_backbone_resnet14_shapes"


def backbone_config() -> dict[str, Any]:
    """The configuration of the backbone (part of its cache key); fast mode trains on fewer images, once."""
    return {
        "blocks": [2, 2, 2], "width": 16, "num_classes": 5,            # ResNet-14, 64 feature channels
        "dataset": "shapes", "difficulty": "cluttered",
        "n_train": per_mode(full=6000, fast=256), "epochs": per_mode(full=10, fast=1),
        "batch_size": 64, "lr": 2e-3, "weight_decay": 5e-4, "seed": 0,
    }


def build_backbone(config: dict[str, Any]) -> CifarResNet:
    """An untrained ``CifarResNet`` with the architecture of ``config`` (3 input channels, 32x32 images).

    Its initial weights are drawn under ``torch.manual_seed(config["seed"])`` in a forked random state, so
    the same config always starts from the same weights, whichever notebook builds (and trains) it first,
    and the caller's random stream is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        return CifarResNet(3, config["num_classes"], blocks=tuple(config["blocks"]), width=config["width"])


def train_backbone(model: nn.Module, config: dict[str, Any]) -> None:
    """Train ``model`` in place on the source task: AdamW with a cosine schedule, through ``fit``."""
    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.training import fit

    seed_everything(config["seed"])
    train_set = load_dataset(config["dataset"], "train", n=config["n_train"], difficulty=config["difficulty"],
                             seed=config["seed"])
    loader = DataLoader(train_set, batch_size=config["batch_size"], shuffle=True,
                        generator=torch.Generator().manual_seed(config["seed"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    fit(model, loader, optimizer, epochs=config["epochs"], scheduler=scheduler, progress="overall")


def course_backbone(*, device: torch.device | str | None = None) -> CifarResNet:
    """The course-pretrained ResNet-14 (``CifarResNet``), trained on cluttered shapes once and cached.

    Returns the model in eval mode on ``device`` (default ``get_device()``), with its 5-class head.
    Each call builds a new model (loaded from the cache), so fine-tuning one never changes another.
    To reuse it: ``model.features`` (N, 3, H, W) -> (N, 64, H/4, W/4), or replace the head,
    ``model.head[-1] = nn.Linear(model.feature_channels, k)``.
    """
    return get_or_train(BACKBONE_NAME, build_backbone, train_backbone, backbone_config(), device=device)
