"""Attribution maps: which pixels a classifier's score depends on, computed with Captum, and plotted.

Module 09's lecture and lab share these. Every map is one number per pixel, ``(N, H, W)``, for the
images ``(N, C, H, W)`` and one target class per image; the methods are Captum's (a maintained
library, so the lab's own versions are checked against it)::

    maps = attribution_map("saliency", model, images, targets)          # (N, H, W), >= 0
    maps = attribution_map("grad_cam", model, images, targets, layer=model.features[-1])
    fig = show_heatmaps(images, maps, titles=["circle", "star"], title="Saliency")

Conventions (the lab's tasks state the same ones):

- ``saliency``: ``|d score_t / d x|``, the largest over the colour channels (Simonyan et al., 2014);
- ``smoothgrad``: the same, averaged over ``samples`` noisy copies (noise std ``noise`` times the
  image's value range), Captum's ``NoiseTunnel`` with ``nt_type="smoothgrad"``;
- ``guided_backprop``, ``integrated_gradients`` (black baseline): the largest absolute value over channels;
- ``occlusion``: ``score_t(x) - score_t(x with a window set to baseline)``, averaged over the windows
  that cover each pixel (Captum's ``Occlusion`` with a window spanning all channels);
- ``grad_cam``: ReLU of the gradient-weighted channel sum of ``layer``'s output, up-sampled
  bilinearly (``align_corners=False``) to the image size (Captum's ``LayerGradCam``).

The model is used as given (put it in eval mode first); gradients never change its weights.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

__all__ = ["METHODS", "attribution_map", "normalise_maps", "show_heatmaps"]

METHODS = ("saliency", "smoothgrad", "guided_backprop", "integrated_gradients", "occlusion", "grad_cam")


def _targets(targets, n: int) -> torch.Tensor:
    t = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    return t.expand(n).clone() if t.numel() == 1 else t


def attribution_map(method: str, model: nn.Module, images: torch.Tensor, targets, **options) -> torch.Tensor:
    """One of ``METHODS`` through Captum: images (N, C, H, W), targets (N,) or one int -> maps (N, H, W) float.

    ``options``: ``layer`` (for ``grad_cam``; default the last module of ``model.features``); ``window``,
    ``stride``, ``baseline`` (for ``occlusion``: 8, 4, 0.0); ``samples``, ``noise`` (for ``smoothgrad``: 16,
    0.15); ``steps`` (for ``integrated_gradients``: 32). See the module's docstring for each convention.
    Captum's warnings (inputs that did not require gradients, hooks on ReLUs) are silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _attribution_map(method, model, images, targets, **options)


def _attribution_map(method: str, model: nn.Module, images: torch.Tensor, targets, *, layer: nn.Module | None = None,
                    window: int = 8, stride: int = 4, baseline: float = 0.0, samples: int = 16,
                    noise: float = 0.15, steps: int = 32) -> torch.Tensor:
    from captum.attr import (GuidedBackprop, IntegratedGradients, LayerGradCam, NoiseTunnel, Occlusion, Saliency)

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    x = images.detach().clone().float()
    t = _targets(targets, len(x))
    n, c, h, w = x.shape
    if method == "saliency":
        return Saliency(model).attribute(x, target=t, abs=True).amax(dim=1).detach()
    if method == "smoothgrad":
        stdevs = float(noise * (x.max() - x.min()))
        tunnel = NoiseTunnel(Saliency(model))
        torch.manual_seed(0)
        return tunnel.attribute(x, nt_type="smoothgrad", nt_samples=samples, stdevs=stdevs, target=t,
                                abs=True).amax(dim=1).detach()
    if method == "guided_backprop":
        return GuidedBackprop(model).attribute(x, target=t).abs().amax(dim=1).detach()
    if method == "integrated_gradients":
        return IntegratedGradients(model).attribute(x, target=t, n_steps=steps).abs().amax(dim=1).detach()
    if method == "occlusion":
        maps = Occlusion(model).attribute(x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride),
                                          baselines=baseline, target=t)
        return maps[:, 0].detach()
    layer = layer if layer is not None else model.features[-1]
    cam = LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
    return F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)[:, 0].detach()


def normalise_maps(maps) -> np.ndarray:
    """maps (N, H, W) -> the same, each scaled to [0, 1] by its own min and max (a flat map becomes 0)."""
    m = maps.detach().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps)
    m = m.astype(np.float64)
    low = m.min(axis=(-2, -1), keepdims=True)
    span = m.max(axis=(-2, -1), keepdims=True) - low
    return np.where(span > 0, (m - low) / np.where(span > 0, span, 1.0), 0.0)


def show_heatmaps(images, maps, titles: Sequence[str] | None = None, title: str = "", *, alpha: float = 0.5,
                  cmap: str = "jet", ncols: int = 6) -> Figure:
    """Each image (top) with its map laid over it (below), maps scaled to [0, 1] each.

    images: (N, C, H, W) or (N, H, W, C) in [0, 1]; maps: (N, H, W); titles: one per image.
    """
    import matplotlib.pyplot as plt

    from cvcourse_utils.plots import _as_images, _show

    x = _as_images(images)
    m = normalise_maps(maps)
    if len(m) != len(x):
        raise ValueError(f"{len(x)} images but {len(m)} maps")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"{len(x)} images but {len(titles)} titles")
    n = len(x)
    cols = min(n, ncols)
    rows = 2 * ((n + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, col = 2 * (i // cols), i % cols
        _show(axes[r, col], x[i])
        if titles is not None:
            axes[r, col].set_title(str(titles[i]), fontsize=9)
        base = x[i].mean(axis=-1) if x[i].ndim == 3 else x[i]
        axes[r + 1, col].imshow(base, cmap="gray", vmin=0, vmax=1)
        axes[r + 1, col].imshow(m[i], cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    fig.suptitle(title or "Attribution maps")
    fig.supxlabel("top: image; below: its map over the image (red = large)", fontsize=9)
    fig.tight_layout()
    return fig
