"""Classifier-free guidance on the lecture's digits model: recognisability, diversity and FID against the scale.

For each guidance scale and each way of treating the estimate x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t),
DDIM ("trailing" timesteps, eta = 0) draws the same 10 x ``per_class`` digits (same seed) from the cached model of
``cvcourse_utils.diffusion.load_digits_diffusion`` (the one lecture 11 loads), and the course judge scores them:

- ``"none"``: x0_hat is used as it is;
- ``"clip"``: x0_hat is clipped to [-1, 1] but the step keeps the unclipped eps (the course's ``ddim_step``, and
  ``diffusers``' ``DDIMScheduler`` with ``clip_sample=True``);
- ``"clip+eps"``: x0_hat is clipped and eps is derived again from the clipped x0_hat, so both terms of the step
  agree (``DDIMScheduler``'s ``use_clipped_model_output=True``).

Each row also gives the fraction of x0_hat's values outside [-1, 1], over all steps and samples.
Run from the repository root (full mode; ``CVCOURSE_FAST=1`` for a quick look at a barely trained model)::

    .venv/bin/python -m benchmarks.digits_guidance
"""
from __future__ import annotations

import time

import numpy as np
import torch

from cvcourse_utils.diffusion import ddim_step, load_digits_diffusion, sample_ddim, to_unit
from cvcourse_utils.fast import per_mode

SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)
MODES = ("clip", "clip+eps", "none")


class _Step:
    """A DDIM step that treats x0_hat as ``mode`` says and counts how many of its values fall outside [-1, 1]."""

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode, self.outside, self.total = mode, 0, 0

    def __call__(self, eps, t, t_prev, x_t, alphas_cumprod, eta=0.0, noise=None):
        abar_t = alphas_cumprod[t]
        x0 = (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
        self.outside += int((x0.abs() > 1).sum())
        self.total += x0.numel()
        if self.mode == "clip+eps":
            eps = (x_t - abar_t.sqrt() * x0.clamp(-1, 1)) / (1 - abar_t).sqrt()
        return ddim_step(eps, t, t_prev, x_t, alphas_cumprod, eta, noise, clip_x0=self.mode != "none")


def class_diversity(images: np.ndarray, labels: np.ndarray, judge) -> float:
    """Mean pairwise distance of the judge's features within each class, averaged over the classes."""
    device = next(judge.parameters()).device
    with torch.no_grad():
        feats = judge.extractor(torch.from_numpy(images).float().to(device)).cpu()
    return float(np.mean([torch.pdist(feats[labels == c]).mean() for c in np.unique(labels)]))


def guidance_sweep(scales=SCALES, modes=MODES, per_class: int | None = None, num_steps: int = 25, seed: int = 2,
                   progress: bool = True, on_row=None) -> list[dict]:
    """One dict per (mode, scale): scale, mode, recognisable, diversity, fid, outside (fraction of x0_hat beyond
    [-1, 1]), seconds, samples; plus a first row {"mode": "real", ...} with the real test digits' figures.
    ``on_row(row, real_row)`` is called as each setting is measured (a long run keeps what it has measured)."""
    from tqdm.auto import tqdm

    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.judge import judge_fid, load_judge, recognisable_rate

    per_class = per_class or per_mode(full=50, fast=2)
    model, abar = load_digits_diffusion()
    judge = load_judge("digits")
    test_x, test_y = load_dataset("digits", "test", image_size=28, as_numpy=True)
    asked = np.repeat(np.arange(10), per_class)
    rows = [{"mode": "real", "scale": float("nan"), "recognisable": recognisable_rate(test_x, test_y, judge),
             "diversity": class_diversity(test_x, test_y, judge), "fid": float("nan"), "outside": 0.0, "seconds": 0.0,
             "samples": len(test_x)}]
    settings = [(mode, scale) for mode in modes for scale in scales]
    for mode, scale in tqdm(settings, desc="guidance sweep", disable=not progress):
        step = _Step(mode)
        began = time.perf_counter()
        images = to_unit(sample_ddim(model, len(asked), abar, num_steps=num_steps, labels=torch.from_numpy(asked),
                                     guidance_scale=scale, step=step, seed=seed, spacing="trailing")).numpy()
        rows.append({"mode": mode, "scale": float(scale), "recognisable": recognisable_rate(images, asked, judge),
                     "diversity": class_diversity(images, asked, judge), "fid": judge_fid(test_x, images, judge),
                     "outside": step.outside / max(step.total, 1), "seconds": time.perf_counter() - began,
                     "samples": len(asked)})
        if on_row is not None:
            on_row(rows[-1], rows[0])
    return rows


def main() -> None:
    for row in guidance_sweep():
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


if __name__ == "__main__":
    main()
