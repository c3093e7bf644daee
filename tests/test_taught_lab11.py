"""Lab 11 (diffusion): a shortcut through the course's diffusion code (its training and samplers included),
diffusers' schedulers and embeddings or torch.lerp earns 0, in ``check`` and in the grader, while the solution is not flagged."""
from __future__ import annotations

import copy

import pytest

from cvcourse_utils.checking import CheckFailed, check
from cvcourse_utils.grading.grader import delegated_tasks
from cvcourse_utils.grading.lab import load_lab
from cvcourse_utils.grading.submission import merge
from cvcourse_utils.notebooks import make_lab
from taught_shortcuts import ROOT, assert_shortcuts_earn_zero, task_cell_ids

LAB = "lab11"

SHORTCUTS = {
    "linear_beta_schedule": (
        "from diffusers import DDPMScheduler\n"
        "def linear_beta_schedule(num_timesteps, beta_start=1e-4, beta_end=0.02):\n"
        "    return DDPMScheduler(num_train_timesteps=num_timesteps, beta_start=beta_start, beta_end=beta_end).betas\n"),
    "cosine_beta_schedule": (
        "from cvcourse_utils.diffusion import cosine_beta_schedule as course_cosine\n"
        "def cosine_beta_schedule(num_timesteps):\n"
        "    return course_cosine(num_timesteps).float()\n"),
    "cumulative_alphas": (
        "from cvcourse_utils import diffusion\n"
        "def cumulative_alphas(betas):\n"
        "    return diffusion.alphas_cumprod_from_betas(betas)\n"),
    "q_sample": (
        "import diffusers\n"
        "def q_sample(x0, t, noise, alphas_cumprod):\n"
        "    s = diffusers.DDPMScheduler(num_train_timesteps=len(alphas_cumprod))\n"
        "    s.alphas_cumprod = alphas_cumprod\n"
        "    return s.add_noise(x0, noise, t)\n"),
    "time_res_block": (
        "from cvcourse_utils.diffusion import ResBlock\n"
        "class TimeResBlock(ResBlock):\n"
        "    def __init__(self, c_in, c_out, emb_dim):\n"
        "        super().__init__(c_in, c_out, emb_dim, scale_shift=True)\n"),
    "sinusoidal_embedding": (
        "from diffusers.models.embeddings import get_timestep_embedding\n"
        "def sinusoidal_embedding(t, dim):\n"
        "    return get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0)\n"),
    "diffusion_loss": (
        "def diffusion_loss(model, x0, t, noise, alphas_cumprod, labels=None):\n"
        "    from cvcourse_utils.diffusion import q_sample as course_q_sample\n"
        "    import torch.nn.functional as F\n"
        "    return F.mse_loss(model(course_q_sample(x0, t, noise, alphas_cumprod), t, labels), noise)\n"),
    "drop_labels": (
        "import cvcourse_utils.diffusion as D\n"
        "def drop_labels(labels, p_uncond, null_label, generator=None):\n"
        "    return D.drop_labels(labels, p_uncond, null_label, generator)\n"),
    "ddpm_step": (
        "from diffusers import DDPMScheduler\n"
        "def ddpm_step(eps, t, x_t, alphas_cumprod, noise, clip_x0=True):\n"
        "    s = DDPMScheduler(num_train_timesteps=len(alphas_cumprod), clip_sample=clip_x0)\n"
        "    s.alphas_cumprod = alphas_cumprod\n"
        "    return s.step(eps, t, x_t).prev_sample\n"),
    "ddim_step": (
        "from cvcourse_utils.diffusion import ddim_step as course_step\n"
        "def ddim_step(eps, t, t_prev, x_t, alphas_cumprod, eta=0.0, noise=None, clip_x0=True):\n"
        "    return course_step(eps, t, t_prev, x_t, alphas_cumprod, eta=eta, noise=noise, clip_x0=clip_x0)\n"),
    "cfg_guidance": (
        "import torch\n"
        "def cfg_guidance(eps_uncond, eps_cond, scale):\n"
        "    return torch.lerp(eps_uncond, eps_cond, scale)\n"),
    "train_loop": (
        "from cvcourse_utils.diffusion import train_diffusion\n"
        "def train_loop(model, images, labels, alphas_cumprod, *, steps, batch_size, lr, p_uncond, generator):\n"
        "    ema, history = train_diffusion(model, images, labels, alphas_cumprod, steps=steps, batch_size=batch_size, lr=lr,\n"
        "                                   p_uncond=p_uncond, device='cpu')\n"
        "    return list(history['train_loss'])\n"),
    "ddpm_sample": (
        "from cvcourse_utils.diffusion import sample_ddpm\n"
        "def ddpm_sample(model, n, shape, alphas_cumprod, labels=None, guidance_scale=1.0, generator=None):\n"
        "    return sample_ddpm(model, n, alphas_cumprod, labels=labels, guidance_scale=guidance_scale,\n"
        "                       seed=int(generator.initial_seed()), shape=shape)\n"),
    "ddim_sample": (
        "import cvcourse_utils.diffusion as D\n"
        "def ddim_sample(model, n, shape, alphas_cumprod, num_steps, labels=None, guidance_scale=1.0, eta=0.0, generator=None):\n"
        "    return D.sample_ddim(model, n, alphas_cumprod, num_steps=num_steps, labels=labels, guidance_scale=guidance_scale,\n"
        "                         eta=eta, seed=int(generator.initial_seed()), shape=shape, spacing='trailing')\n"),
}

MORE_SHORTCUTS = {  # other ways in: a tensor method, a class reached at run time, a helper of the student's
    "cfg_guidance": (
        "def cfg_guidance(eps_uncond, eps_cond, scale):\n"
        "    return eps_uncond.lerp(eps_cond, scale)\n"),
    "ddim_step": (
        "import diffusers.schedulers as S\n"
        "def helper(eps, t, x_t, alphas_cumprod):\n"
        "    return S.DDIMScheduler(num_train_timesteps=len(alphas_cumprod)).step(eps, t, x_t).prev_sample\n"
        "def ddim_step(eps, t, t_prev, x_t, alphas_cumprod, eta=0.0, noise=None, clip_x0=True):\n"
        "    return helper(eps, t, x_t, alphas_cumprod)\n"),
    "time_res_block": (  # the course's U-Net is built from the course's ResBlock by default: its class, at run time
        "from cvcourse_utils.diffusion import TinyUNet\n"
        "def TimeResBlock(c_in, c_out, emb_dim):\n"
        "    return type(TinyUNet(1, width=8).mid)(c_in, c_out, emb_dim, scale_shift=True)\n"),
    "sinusoidal_embedding": (
        "from cvcourse_utils.vit import sinusoidal_positions\n"
        "def sinusoidal_embedding(t, dim):\n"
        "    return sinusoidal_positions(int(t.max()) + 1, dim)[t]\n"),
    "train_loop": (  # the course's objective does the step's work; the loop around it is the student's
        "import torch\n"
        "from cvcourse_utils.diffusion import DenoisingObjective\n"
        "def train_loop(model, images, labels, alphas_cumprod, *, steps, batch_size, lr, p_uncond, generator):\n"
        "    objective, optimizer, losses = DenoisingObjective(model, alphas_cumprod, p_uncond=p_uncond), torch.optim.Adam(model.parameters(), lr=lr), []\n"
        "    for _ in range(steps):\n"
        "        idx = torch.randint(0, len(images), (batch_size,), generator=generator)\n"
        "        loss = objective.loss(images[idx], labels[idx])\n"
        "        optimizer.zero_grad(); loss.backward(); optimizer.step(); losses.append(loss.item())\n"
        "    return losses\n"),
    "ddpm_sample": (  # the student's loop around the course's step
        "import torch\n"
        "from cvcourse_utils.diffusion import ddpm_step as course_step\n"
        "def ddpm_sample(model, n, shape, alphas_cumprod, labels=None, guidance_scale=1.0, generator=None):\n"
        "    x = torch.randn((n, *shape), generator=generator)\n"
        "    for t in range(len(alphas_cumprod) - 1, -1, -1):\n"
        "        x = course_step(guided_eps(model, x, t, labels, guidance_scale), t, x, alphas_cumprod, torch.randn(x.shape, generator=generator))\n"
        "    return x\n"),
    "ddim_sample": (  # the course's spacing
        "import torch\n"
        "from cvcourse_utils.diffusion import ddim_timesteps\n"
        "def ddim_sample(model, n, shape, alphas_cumprod, num_steps, labels=None, guidance_scale=1.0, eta=0.0, generator=None):\n"
        "    steps = ddim_timesteps(len(alphas_cumprod), num_steps, 'trailing')\n"
        "    x = torch.randn((n, *shape), generator=generator)\n"
        "    for i, t in enumerate(steps):\n"
        "        t_prev = steps[i + 1] if i + 1 < len(steps) else -1\n"
        "        noise = torch.randn(x.shape, generator=generator) if eta > 0 else None\n"
        "        x = ddim_step(guided_eps(model, x, t, labels, guidance_scale), t, t_prev, x, alphas_cumprod, eta, noise)\n"
        "    return x\n"),
}

RESNET_BLOCK = (  # diffusers' U-Net block
    "import torch.nn as nn\n"
    "from diffusers.models.resnet import ResnetBlock2D\n"
    "class TimeResBlock(nn.Module):\n"
    "    def __init__(self, c_in, c_out, emb_dim):\n"
    "        super().__init__()\n"
    "        self.block = ResnetBlock2D(in_channels=c_in, out_channels=c_out, temb_channels=emb_dim)\n"
    "    def forward(self, x, emb):\n"
    "        return self.block(x, emb)\n")


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero(LAB, SHORTCUTS, capsys)


def test_more_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero(LAB, {**SHORTCUTS, **MORE_SHORTCUTS}, capsys)


def test_diffusers_resnet_block_earns_zero(capsys):
    assert_shortcuts_earn_zero(LAB, {**SHORTCUTS, "time_res_block": RESNET_BLOCK}, capsys)


# The course's function imported under the task's name. The grader reads the cells and flags it; ``check`` is given
# the library's function object, reads the library's module (its own, honest body) and so lets it pass: a bug in the
# shared ``taught.delegations_in_function``, reported to the lead (it should compare ``fn`` itself with the forbidden
# objects, or read the caller's ``In``).
RENAMED_REFERENCE = "from cvcourse_utils.diffusion import drop_labels\n"


def test_the_grader_flags_the_reference_imported_under_the_tasks_name():
    spec = load_lab(LAB, ROOT)
    submission = copy.deepcopy(spec.reference)
    grade_id = task_cell_ids(spec.reference)["drop_labels"]
    cell = next(c for c in submission["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    cell["source"] = RENAMED_REFERENCE
    merged = merge(spec.reference, make_lab(spec.reference, spec.notebook), submission)
    # train_loop calls drop_labels, now the course's: it is flagged too
    assert sorted(delegated_tasks(spec.tasks, merged.cells)) == ["drop_labels", "train_loop"]


def test_check_refuses_the_reference_imported_under_the_tasks_name():
    namespace = {"__name__": "__main__", "In": ["", RENAMED_REFERENCE]}
    exec(RENAMED_REFERENCE, namespace)
    with pytest.raises(CheckFailed, match="ready-made code"):
        check("drop_labels", namespace["drop_labels"])
