"""Lab 11 · Diffusion models: points per task and hidden cases (instructors only).

Hidden cases use other sizes, seeds and timesteps, plus edge cases: a schedule of one step, the
first timestep (t = 0) of the noising, a DDPM step at the last timestep T-1, DDIM with eta = 1
(DDPM's variance) and with a stride of 1, a single label to drop and a negative guidance scale; residual blocks
of one image, with fewer output than input channels, and with three input channels (GroupNorm's groups = channels); a training loop of one
step, with a batch larger than the data (drawn with replacement) and with every label dropped; samplers of one step
(T = 1), a DDIM stride that does not divide T, DDIM with eta = 0.5 and guidance, and a negative guidance scale.
"""
import numpy as np

from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab11 import (block_inputs, cosine_alphas_cumprod, ddim_inputs, loss_inputs, sampler_inputs,
                                          step_inputs, train_inputs)

# Seconds a submission may run (cvcourse grade --timeout overrides it). The solution graded in 123 s in fast mode
# on the 2-core machine at load 8-10 (2026-12-06): the course-wide 120 s would give correct work 0 on a busy grader.
# With train_loop, ddpm_sample and ddim_sample added: 99 s (self-test, fast mode, load 13, 2026-12-06).
TIMEOUT = 300

POINTS = {
    "linear_beta_schedule": 1,
    "cosine_beta_schedule": 1,
    "cumulative_alphas": 1,
    "q_sample": 1,
    "sinusoidal_embedding": 1,
    "time_res_block": 2,
    "diffusion_loss": 2,
    "ddpm_step": 2,
    "ddim_step": 2,
    "drop_labels": 1,
    "train_loop": 2,
    "cfg_guidance": 1,
    "ddpm_sample": 2,
    "ddim_sample": 2,
}

HIDDEN = {
    "linear_beta_schedule": (
        Case("T = 1 (a single beta_start)", lambda rng: (1, 1e-4, 0.02)),
        Case("T = 333, 5e-4 to 0.03", lambda rng: (333, 5e-4, 0.03)),
    ),
    "cosine_beta_schedule": (
        Case("T = 1 (capped at 0.999)", lambda rng: (1,)),
        Case("T = 257", lambda rng: (257,)),
    ),
    "cumulative_alphas": (
        Case("a single beta", lambda rng: (np.array([0.3]),)),
        Case("500 small betas", lambda rng: (rng.uniform(1e-5, 0.01, size=500),), seed=101),
    ),
    "q_sample": (
        Case("t = 0 for every image", lambda rng: (rng.uniform(-1, 1, (3, 1, 5, 5)), np.zeros(3, dtype=np.int64),
                                                    rng.normal(size=(3, 1, 5, 5)), cosine_alphas_cumprod(10)), seed=102),
        Case("one image at t = T-1", lambda rng: (rng.uniform(-1, 1, (1, 2, 3, 3)), np.array([49]),
                                                  rng.normal(size=(1, 2, 3, 3)), cosine_alphas_cumprod(50)), seed=103),
    ),
    "sinusoidal_embedding": (
        Case("one t, dim 2", lambda rng: (np.array([5]), 2)),
        Case("t up to 999, dim 128", lambda rng: (rng.integers(0, 1000, 7), 128), seed=104),
    ),
    "time_res_block": (
        Case("one image, 16 -> 16 channels, 3x3", lambda rng: block_inputs(rng, 1, 16, 16, (3, 3), 6, seed=7), seed=113),
        Case("24 -> 16 channels, 4 images 4x4, embedding 32", lambda rng: block_inputs(rng, 4, 24, 16, (4, 4), 32, seed=8),
             seed=114),
        Case("3 -> 16 channels (RGB in, 3 groups), 2 images 8x8", lambda rng: block_inputs(rng, 2, 3, 16, (8, 8), 5, seed=9),
             seed=115),
        Case("8 -> 4 channels, one image 5x5", lambda rng: block_inputs(rng, 1, 8, 4, (5, 5), 3, seed=10), seed=130),
    ),
    "diffusion_loss": (
        Case("a fixed U-Net with 3 classes, another seed", lambda rng: (*loss_inputs(rng, 7, 30), 3, 5, False), seed=105),
        Case("one image", lambda rng: (*loss_inputs(rng, 1, 10), 0, 6, False), seed=106),
    ),
    "ddpm_step": (
        Case("t = T-1 = 99, clipped", lambda rng: step_inputs(rng, (2, 1, 3, 3), 100, 99, True), seed=107),
        Case("t = 1, no clipping, RGB", lambda rng: step_inputs(rng, (1, 3, 4, 4), 20, 1, False), seed=108),
    ),
    "ddim_step": (
        Case("eta = 1, t = 60 -> 40 of T = 100", lambda rng: ddim_inputs(rng, (2, 1, 3, 3), 100, 60, 20, 1.0, True), seed=109),
        Case("stride 1, t = 9 -> 8 of T = 10, eta = 0.3", lambda rng: ddim_inputs(rng, (1, 2, 3, 3), 10, 9, 1, 0.3, False),
             seed=110),
    ),
    "drop_labels": (
        Case("20,000 labels, p_uncond = 0.1", lambda rng: (rng.integers(0, 10, 20000), 0.1, 10, 7)),
        Case("a single label, p_uncond = 1", lambda rng: (np.array([4]), 1.0, 5, 8)),
    ),
    "train_loop": (
        Case("one step of 16 on 5 images (drawn with replacement), every label dropped",
             lambda rng: train_inputs(rng, 5, 30, 1, 16, 5e-3, 1.0, seed=3), seed=116),
        Case("4 steps of 3, T = 100, p_uncond = 0.5", lambda rng: train_inputs(rng, 10, 100, 4, 3, 2e-2, 0.5, seed=4),
             seed=117),
    ),
    "ddpm_sample": (
        Case("T = 1: a single step", lambda rng: sampler_inputs(3, 8, 1, 2, 2.0, seed=3, model_seed=3)),
        Case("5 images 4x4, T = 15, guidance -1", lambda rng: sampler_inputs(5, 4, 15, 4, -1.0, seed=4, model_seed=4)),
    ),
    "ddim_sample": (
        Case("T = 10 in 3 steps (stride 3 does not divide T: t = 9, 6, 3), guidance 2",
             lambda rng: sampler_inputs(3, 8, 10, 3, 2.0, seed=3, model_seed=3, num_steps=3)),
        Case("eta = 0.5, guidance 4, T = 16 in 16 steps", lambda rng: sampler_inputs(2, 8, 16, 2, 4.0, seed=4, model_seed=4,
                                                                                     num_steps=16, eta=0.5)),
        Case("one step, T = 5", lambda rng: sampler_inputs(2, 4, 5, 0, 1.0, seed=5, model_seed=5, num_steps=1)),
    ),
    "cfg_guidance": (
        Case("scale 1 is the conditional estimate", lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), 1.0), seed=111),
        Case("a negative scale, 3-D arrays", lambda rng: (rng.normal(size=(2, 2, 2)), rng.normal(size=(2, 2, 2)), -0.5), seed=112),
    ),
}
