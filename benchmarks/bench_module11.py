"""Module 11 quality bars, measured on the lab notebook itself in full mode, and on the cached text-to-image model.

Bars (figures from the ``results`` dict of ``solutions/lab11_diffusion_models.ipynb``, scored by the course
judge of ``cvcourse_utils.judge``, trained on the training split only):

- class-conditional DDPM with classifier-free guidance (scale 2, all T = 200 ancestral steps; the lab's TinyUNet
  of width 32 with patch 2 and scale-shift blocks, trained for 2,000 steps of 64): recognisable rate >= 0.95 over 1,000 samples (100 per
  class); its FID in the judge's feature space beside the real-train-versus-real-test baseline;
- DDIM with 50 steps ("trailing" timesteps, eta = 0, same model and guidance; the student's samplers of the lab):
  recognisable rate within 0.05 of DDPM's; guidance 1, 2 and 4 recorded (rate and within-class diversity);
- the guidance sweep of ``benchmarks/digits_guidance.py`` on the lecture's cached digits model (trained here if it
  is not in the cache; its training time is recorded): scales 0, 1, 2, 3, 5, 8, each with x0_hat left alone,
  clipped, and clipped with eps derived again, DDIM-25 (trailing), 500 samples: recognisable rate, within-class
  diversity and FID in the judge's feature space (no bar: the figures lecture 11 and lab 11 quote);
- the schedules (linear, cosine, cumulative products) and the DDPM and DDIM steps of
  ``cvcourse_utils.diffusion`` equal ``diffusers``' ``DDPMScheduler`` / ``DDIMScheduler`` to 1e-6 (measured here);
- times: the digits model's full-mode training time on this machine, wall and CPU time (target <= 20 min on 2
  idle CPU cores: the lab trains on one thread, so on an idle machine the wall time is about the CPU time; on a GPU
  with bf16, the 0.95 bar within 5 min), and the sampling times;
- text-to-image on the captioned shapes (``cvcourse_utils.latent_diffusion.load_text_to_image``, the model the
  lecture's section 5 loads, trained here if it is not in the cache): for 20 images of each of the 25 prompts
  "a <colour> <shape>" (guidance 3, DDIM-50 with "trailing" timesteps), the shape judge (the course backbone fine-tuned
  on real captioned shapes) finds the prompted shape in >= 0.80, and the prompted colour measured from the pixels is
  right in >= 0.85; its training time (target <= 15 min on 2 idle CPU cores; wall and CPU time are recorded, since
  the machine may be shared), the judge's accuracy on real images and guidance scales 1, 2 and 5 are recorded.

Options: ``--dataset digits|mnist`` (MNIST only when it is in the cache: ``cvcourse data download mnist``);
``--samples-out DIR`` writes each sampler's samples to ``DIR/ddpm.npz`` and ``DIR/ddim50.npz`` (``images``
float32 (N, 1, 28, 28) in [0, 1], ``labels`` int64 (N,), the class asked for), which
``cvcourse_utils.judge.load_samples`` reads; ``--only PART ...`` measures some parts alone (``diffusers``, ``lab``,
``guidance``, ``text-to-image``; ``--text-to-image-only`` is ``--only text-to-image``).

Run from the repository root:  .venv/bin/python -m benchmarks.bench_module11 [--dataset mnist] [--samples-out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks.notebook_results import run_notebook
from benchmarks.results import Bars, on_cuda, prepare_sample_run, record

NAME = "bench_module11"
LAB = "solutions/lab11_diffusion_models.ipynb"

DDPM_RECOGNISABLE_BAR = 0.95
DDIM_GAP_BAR = 0.05
EQUALITY_BAR = 1e-6
TIME_TARGET_MIN = 20.0
SAMPLERS = ("ddpm", "ddim50")
TEXT_SHAPE_BAR = 0.80
TEXT_COLOUR_BAR = 0.85
TEXT_TIME_TARGET_MIN = 15.0  # the text-to-image model's training on 2 CPU cores
TEXT_PER_PROMPT = 20  # images per prompt: 25 prompts, 500 images
TEXT_GUIDANCE_SWEEP = (1.0, 2.0, 5.0)  # recorded beside the bar's scale 3


def diffusers_differences() -> dict[str, float]:
    """Largest absolute differences between cvcourse_utils.diffusion and diffusers' schedulers (float64 steps)."""
    import torch
    from diffusers import DDIMScheduler, DDPMScheduler

    from cvcourse_utils import diffusion as D

    out = {"schedules": 0.0, "ddpm_step": 0.0, "ddim_step": 0.0}
    gen = torch.Generator().manual_seed(0)
    for T in (10, 200, 1000):
        cos = DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2")
        lin = DDPMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02)
        out["schedules"] = max(out["schedules"], float((D.cosine_beta_schedule(T) - cos.betas).abs().max()),
                               float((D.linear_beta_schedule(T) - lin.betas).abs().max()),
                               float((D.alphas_cumprod_from_betas(cos.betas) - cos.alphas_cumprod).abs().max()))
    abar = D.make_schedule(200)["alphas_cumprod"].double()
    x, eps = (torch.randn(4, 1, 8, 8, generator=gen, dtype=torch.float64) for _ in range(2))
    for clip in (True, False):
        ddpm = DDPMScheduler(num_train_timesteps=200, clip_sample=clip)
        ddpm.alphas_cumprod = abar
        for t in (0, 1, 100, 199):
            noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
            ref = ddpm.step(eps, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
            out["ddpm_step"] = max(out["ddpm_step"], float((D.ddpm_step(eps, t, x, abar, noise, clip) - ref).abs().max()))
        ddim = DDIMScheduler(num_train_timesteps=200, clip_sample=clip)
        ddim.alphas_cumprod = abar
        ddim.set_timesteps(50)
        for t in (196, 100, 0):
            for eta in (0.0, 1.0):
                noise = torch.randn(x.shape, generator=gen, dtype=torch.float64)
                ref = ddim.step(eps, t, x, eta=eta, variance_noise=noise).prev_sample
                mine = D.ddim_step(eps, t, t - 4, x, abar, eta, noise, clip)
                out["ddim_step"] = max(out["ddim_step"], float((mine - ref).abs().max()))
    return out


def text_to_image_figures(bar) -> None:
    """Train (or load) the cached latent text-to-image model in full mode and measure it on the 25 prompts."""
    import time

    import torch

    os.environ["CVCOURSE_FAST"] = "0"
    from cvcourse_utils.datasets.captions import CAPTION_SHAPES, load_captioned_shapes
    from cvcourse_utils.latent_diffusion import (build_text_to_image, evaluate_text_to_image, load_shape_judge,
                                                 load_text_to_image, text_to_image_config, train_text_to_image)
    from cvcourse_utils.pretrained import model_path

    config = text_to_image_config()
    cached = model_path("shapes_text_to_image", build_text_to_image, train_text_to_image, config).exists()
    began, cpu_began = time.perf_counter(), time.process_time()
    model = load_text_to_image(config)
    minutes, cpu_minutes = (time.perf_counter() - began) / 60, (time.process_time() - cpu_began) / 60
    device = "cuda" if on_cuda() else "cpu"
    threads = torch.get_num_threads()
    head = f", full-resolution head {config['head']}" if config.get("head") else ""
    record(NAME, f"text-to-image: training time ({device}, {threads} thread{'s' if threads > 1 else ''}; pixel-space TextUNet "
           f"(patch {config['patch']}, width {config['width']}{head}), {config['steps']:,} steps of {config['batch_size']})",
           "loaded from the cache" if cached else f"{minutes:.1f} min (CPU time {cpu_minutes:.1f} min)",
           f"target <= {TEXT_TIME_TARGET_MIN:g} min on 2 idle cores"
           f"{'' if cached else (' -> met' if minutes <= TEXT_TIME_TARGET_MIN else ' -> missed in wall time')}; "
           f"load average {os.getloadavg()[0]:.1f} (a shared machine: compare the CPU time)")
    judge = load_shape_judge()
    real = load_captioned_shapes("test", n=1000, pairs="all")
    with torch.no_grad():
        found = judge(real.image_tensor().to(next(judge.parameters()).device)).argmax(1).cpu().numpy()
    record(NAME, "text-to-image: shape judge test accuracy on real captioned shapes",
           f"{float((found == real.shapes).mean()):.4f}", "the course backbone fine-tuned on real captioned training images")
    began = time.perf_counter()
    res = evaluate_text_to_image(model, per_prompt=TEXT_PER_PROMPT, judge=judge)
    seconds = time.perf_counter() - began
    n = len(res["prompts"])
    bar(f"text-to-image: prompted shape found by the shape judge ({n} images, 25 prompts 'a <colour> <shape>', "
        "guidance 3, DDIM-50)", res["shape_accuracy"], res["shape_accuracy"] >= TEXT_SHAPE_BAR, f">= {TEXT_SHAPE_BAR}")
    bar(f"text-to-image: prompted colour measured from pixels ({n} images)", res["colour_accuracy"],
        res["colour_accuracy"] >= TEXT_COLOUR_BAR, f">= {TEXT_COLOUR_BAR}")
    per_shape = ", ".join(f"{name} {v:.2f}" for name, v in zip(CAPTION_SHAPES, res["per_shape"]))
    record(NAME, "text-to-image: shape and colour both right", f"{res['both_accuracy']:.4f}",
           f"per shape (shape found): {per_shape}; sampling {seconds:.0f} s ({device}); load average {os.getloadavg()[0]:.1f}")
    for scale in TEXT_GUIDANCE_SWEEP:
        other = evaluate_text_to_image(model, per_prompt=TEXT_PER_PROMPT, judge=judge, guidance_scale=scale)
        record(NAME, f"text-to-image: guidance {scale:g} (DDIM-50, {n} images): prompted shape / colour / both",
               f"{other['shape_accuracy']:.3f} / {other['colour_accuracy']:.3f} / {other['both_accuracy']:.3f}",
               "no bar (the bar is measured at guidance 3, above)")


PARTS = ("diffusers", "lab", "guidance", "text-to-image")


def lab_figures(bar, bars: Bars, data: str, samples_out) -> None:
    """Run the lab's solution notebook in full mode and record its figures."""
    results, seconds = run_notebook(LAB)
    record(NAME, f"{data}: lab11 full-mode run time", f"{seconds / 60:.1f} min",
           f"solutions notebook, CVCOURSE_FAST=0; load average {os.getloadavg()[0]:.1f}")
    record(NAME, f"{data}: judge test accuracy", f"{results['judge_test_accuracy']:.4f}", "trained on the training split only")
    rate = results["ddpm_recognisable_rate"]
    bar("guided DDPM recognisable rate (1,000 samples, 100 per class, scale 2, 200 steps)", rate,
        rate >= DDPM_RECOGNISABLE_BAR, f">= {DDPM_RECOGNISABLE_BAR}")
    gap = results["ddim_gap"]
    bar(f"|DDPM - DDIM-50 (trailing)| recognisable rate (DDIM {results['ddim50_recognisable_rate']:.4f})", gap, gap <= DDIM_GAP_BAR,
        f"<= {DDIM_GAP_BAR}")
    baseline = results["real_train_vs_test_fid"]
    for sampler in SAMPLERS:
        record(NAME, f"{data}: {sampler} FID in the judge's feature space", f"{results[f'{sampler}_fid']:.2f}",
               f"real train vs real test: {baseline:.2f}; 1,000 samples vs the test split")
    for scale in ("1", "2", "4"):
        record(NAME, f"{data}: DDIM-50 (trailing) guidance {scale}: recognisable rate / within-class diversity",
               f"{results[f'cfg{scale}_recognisable_rate']:.4f} / {results[f'cfg{scale}_diversity']:.2f}", "no bar")
    device = "cuda" if on_cuda() else "cpu"
    minutes, cpu_minutes = results["ddpm_train_seconds"] / 60, results["ddpm_train_cpu_seconds"] / 60
    steps = int(results["ddpm_train_steps"])
    if device == "cuda":
        verdict = f"target <= 5 min -> {'met' if minutes <= 5 else 'missed'} (bf16)"
    else:  # one thread: on an idle machine the wall time is the CPU time
        verdict = (f"target <= {TIME_TARGET_MIN:g} min on 2 idle cores -> {'met' if cpu_minutes <= TIME_TARGET_MIN else 'missed'} "
                   f"(one thread, float32: idle wall time ~ CPU time); load average {os.getloadavg()[0]:.1f}")
    record(NAME, f"{data}: digits DDPM training time ({device}, {steps:,} steps of 64, scale-shift blocks), wall / CPU",
           f"{minutes:.1f} min / {cpu_minutes:.1f} min", verdict)
    for sampler in SAMPLERS:
        record(NAME, f"{data}: {sampler} sampling time (1,000 samples, guided)",
               f"{results[f'{sampler}_sample_seconds'] / 60:.1f} min", device)
    if samples_out is not None:
        bars.expect_files(samples_out / f"{name}.npz" for name in SAMPLERS)


def guidance_figures() -> None:
    """The guidance sweep of benchmarks/digits_guidance.py on the lecture's cached digits model, in full mode."""
    import time

    import torch

    os.environ["CVCOURSE_FAST"] = "0"
    torch.set_num_threads(1)  # as the lecture: the U-Net is tiny
    from benchmarks.digits_guidance import guidance_sweep
    from cvcourse_utils.diffusion import build_digits_diffusion, digits_diffusion_config, train_digits_diffusion
    from cvcourse_utils.pretrained import model_path

    config = digits_diffusion_config()
    if not model_path("digits_diffusion", build_digits_diffusion, train_digits_diffusion, config).exists():
        began, began_cpu = time.perf_counter(), time.process_time()
        from cvcourse_utils.diffusion import load_digits_diffusion

        load_digits_diffusion(config)
        record(NAME, f"digits: lecture's digits DDPM training time ({config['steps']:,} steps of {config['batch_size']}), "
               "wall / CPU", f"{(time.perf_counter() - began) / 60:.1f} min / {(time.process_time() - began_cpu) / 60:.1f} min",
               f"one thread; load average {os.getloadavg()[0]:.1f}")
    def on_row(row: dict, real: dict) -> None:
        record(NAME, f"digits: guidance sweep, lecture's model, DDIM-25 (trailing), x0_hat {row['mode']}, scale {row['scale']:g}: "
               "recognisable / within-class diversity / FID (judge features) / x0_hat outside [-1, 1]",
               f"{row['recognisable']:.3f} / {row['diversity']:.2f} / {row['fid']:.1f} / {row['outside']:.3f}",
               f"{row['samples']:,} samples, seed 2; real test digits: recognisable {real['recognisable']:.3f}, diversity "
               f"{real['diversity']:.2f}; {row['seconds']:.0f} s; load average {os.getloadavg()[0]:.1f}")

    guidance_sweep(on_row=on_row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--samples-out", type=Path, default=None, help="folder for ddpm.npz and ddim50.npz")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=PARTS, help="the parts to measure (default: all)")
    parser.add_argument("--text-to-image-only", action="store_true",
                        help="measure only the text-to-image model (the same as --only text-to-image)")
    args = parser.parse_args(argv)
    parts = ("text-to-image",) if args.text_to_image_only else tuple(args.only)

    if not prepare_sample_run(NAME, args.dataset, args.samples_out, "CVCOURSE_DIFFUSION_DATASET"):
        return 0

    data = args.dataset
    bars = Bars(NAME, fmt=".4g")

    def bar(figure: str, value: float, ok: bool, requirement: str) -> None:
        bars.check(figure if figure.startswith("text-to-image") else f"{data}: {figure}", value, ok, requirement)

    if "diffusers" in parts:
        for what, diff in diffusers_differences().items():
            bar(f"max |difference| to diffusers, {what}", diff, diff <= EQUALITY_BAR, f"<= {EQUALITY_BAR:g}")
    if "lab" in parts:
        lab_figures(bar, bars, data, args.samples_out)
    if "guidance" in parts:
        guidance_figures()
    if "text-to-image" in parts:
        text_to_image_figures(bar)
    return bars.finish("measured module 11")


if __name__ == "__main__":
    sys.exit(main())
