"""Lab 11 · Diffusion models: the tasks, their public cases and library references.

The schedules, the noising and both sampler steps are checked against Hugging Face ``diffusers``'
``DDPMScheduler`` and ``DDIMScheduler`` (pure code: nothing is downloaded), given the same inputs and
the same noise; the time embedding against ``diffusers``' ``get_timestep_embedding``; guidance against
``torch.lerp``. The U-Net's residual block with its time/class embedding (a scale and shift after the norm) is
compared with the course's ``cvcourse_utils.diffusion.ResBlock(..., scale_shift=True)`` after copying the same
weights into it, and must change its output when the embedding changes (also with one channel per group, where
an embedding added before the norm would vanish). The loss is compared with ``F.mse_loss`` on ``DDPMScheduler.add_noise`` for a fixed
small U-Net, and tested on a property (a model that knows the noise scores 0); label dropout has no
single answer, so its check tests properties (what is kept, what is dropped, and how often).
Every case works in float64 (the schedulers' buffers are replaced by the case's float64 ``alphas_cumprod``),
so "equal" means to 1e-6 or better.
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close

NOISE_SEED = 1234  # the noise of a DDPM step is torch.randn(shape, generator=manual_seed(NOISE_SEED), dtype=float64)


def _torch(value):
    import torch

    return torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value


def torch_call(fn, args):
    """Call ``fn`` with every NumPy array turned into a tensor of the same dtype."""
    return fn(*(_torch(a) for a in args))


def _ddpm(num_timesteps: int, alphas_cumprod=None, clip: bool = False, **kwargs):
    import torch
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=num_timesteps, clip_sample=clip, **kwargs)
    if alphas_cumprod is not None:
        sched.alphas_cumprod = torch.from_numpy(np.asarray(alphas_cumprod, dtype=np.float64))
    return sched


def cosine_alphas_cumprod(num_timesteps: int) -> np.ndarray:
    """(T,) float64: the cumulative products of the cosine schedule (Nichol & Dhariwal), computed in float64."""
    s = np.arange(num_timesteps + 1) / num_timesteps
    f = np.cos((s + 0.008) / 1.008 * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1.0 - betas)


def step_inputs(rng: np.random.Generator, shape: tuple, num_timesteps: int, t: int, clip: bool) -> tuple:
    """(eps, t, x_t, alphas_cumprod, noise, clip_x0) float64 arrays for a DDPM step at t."""
    import torch

    eps, x_t = rng.normal(size=shape), rng.normal(size=shape)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(NOISE_SEED), dtype=torch.float64).numpy()
    return eps, t, x_t, cosine_alphas_cumprod(num_timesteps), noise, clip


def ddim_inputs(rng: np.random.Generator, shape: tuple, num_timesteps: int, t: int, stride: int, eta: float,
                clip: bool) -> tuple:
    """(eps, t, t_prev = t - stride, x_t, alphas_cumprod, eta, noise, clip_x0) for a DDIM step."""
    eps, x_t, noise = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
    return eps, t, t - stride, x_t, cosine_alphas_cumprod(num_timesteps), eta, noise, clip


# --------------------------------------------------------------------------- references

def _linear_reference(num_timesteps, beta_start, beta_end):
    return _ddpm(int(num_timesteps), beta_start=float(beta_start), beta_end=float(beta_end), beta_schedule="linear").betas


def _cosine_reference(num_timesteps):
    return _ddpm(int(num_timesteps), beta_schedule="squaredcos_cap_v2").betas


def _cumprod_reference(betas):
    return _ddpm(len(betas), trained_betas=np.asarray(betas)).alphas_cumprod  # diffusers keeps float32


def _q_sample_reference(x0, t, noise, alphas_cumprod):
    sched = _ddpm(len(alphas_cumprod), alphas_cumprod)
    return sched.add_noise(_torch(x0), _torch(noise), _torch(t))


def _embedding_reference(t, dim):
    from diffusers.models.embeddings import get_timestep_embedding

    return get_timestep_embedding(_torch(t), int(dim), flip_sin_to_cos=True, downscale_freq_shift=0)


def _ddpm_step_reference(eps, t, x_t, alphas_cumprod, noise, clip_x0):
    import torch

    sched = _ddpm(len(alphas_cumprod), alphas_cumprod, clip=bool(clip_x0))
    out = sched.step(_torch(eps), int(t), _torch(x_t), generator=torch.Generator().manual_seed(NOISE_SEED))
    return out.prev_sample


def _ddim_step_reference(eps, t, t_prev, x_t, alphas_cumprod, eta, noise, clip_x0):
    import torch
    from diffusers import DDIMScheduler

    T = len(alphas_cumprod)
    sched = DDIMScheduler(num_train_timesteps=T, clip_sample=bool(clip_x0))
    sched.alphas_cumprod = torch.from_numpy(np.asarray(alphas_cumprod, dtype=np.float64))
    sched.set_timesteps(T // (int(t) - int(t_prev)))
    assert sched.config.num_train_timesteps // sched.num_inference_steps == int(t) - int(t_prev)
    return sched.step(_torch(eps), int(t), _torch(x_t), eta=float(eta), variance_noise=_torch(noise)).prev_sample


def _cfg_reference(eps_uncond, eps_cond, scale):
    import torch

    return torch.lerp(_torch(eps_uncond), _torch(eps_cond), float(scale))


# --------------------------------------------------------------------------- diffusion_loss

def _loss_model(seed: int, num_classes: int):
    import torch

    from cvcourse_utils.diffusion import TinyUNet

    torch.manual_seed(seed)
    return TinyUNet(1, width=8, num_classes=num_classes).double().eval()


class _Oracle:
    """A 'model' that knows x0 and so returns the true noise of x_t: its loss is 0."""

    def __init__(self, x0, alphas_cumprod):
        self.x0, self.abar = x0, alphas_cumprod

    def __call__(self, x_t, t, labels=None):
        a = self.abar[t].reshape(-1, 1, 1, 1)
        return (x_t - a.sqrt() * self.x0) / (1 - a).sqrt()


def loss_inputs(rng: np.random.Generator, n: int, num_timesteps: int) -> tuple:
    """(x0 (n, 1, 8, 8) in [-1, 1], t (n,) int64, noise, alphas_cumprod) in float64."""
    x0 = rng.uniform(-1, 1, size=(n, 1, 8, 8))
    return x0, rng.integers(0, num_timesteps, size=n), rng.normal(size=x0.shape), cosine_alphas_cumprod(num_timesteps)


def run_diffusion_loss(fn, args):
    """Call the student's loss with the case's fixed small U-Net (or the oracle) and report the value."""
    import torch

    x0, t, noise, abar, num_classes, seed, oracle = args
    x0, t, noise, abar = (_torch(a) for a in (x0, t, noise, abar))
    labels = (torch.arange(len(x0)) % num_classes) if num_classes else None
    model = _Oracle(x0, abar) if oracle else _loss_model(int(seed), int(num_classes))
    with torch.no_grad():
        return fn(model, x0, t, noise, abar, labels)


def _loss_reference(x0, t, noise, abar, num_classes, seed, oracle):
    import torch
    import torch.nn.functional as F

    if oracle:
        return torch.zeros((), dtype=torch.float64)
    model = _loss_model(int(seed), int(num_classes))
    labels = (torch.arange(len(x0)) % num_classes) if num_classes else None
    x_t = _ddpm(len(abar), abar).add_noise(_torch(x0), _torch(noise), _torch(t))
    with torch.no_grad():
        return F.mse_loss(model(x_t, _torch(t), labels), _torch(noise))


# --------------------------------------------------------------------------- TimeResBlock

def reference_res_block(c_in: int, c_out: int, emb_dim: int, seed: int):
    """The course's ``ResBlock`` with scale-shift conditioning in float64, every parameter (norms included) drawn
    from ``seed``."""
    import torch

    from cvcourse_utils.diffusion import ResBlock

    gen = torch.Generator().manual_seed(int(seed))
    block = ResBlock(int(c_in), int(c_out), int(emb_dim), scale_shift=True).double()
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.4)
    return block.eval()


def block_inputs(rng: np.random.Generator, n: int, c_in: int, c_out: int, hw: tuple, emb_dim: int, seed: int) -> tuple:
    """(x (n, c_in, H, W), emb (n, emb_dim), other_emb (n, emb_dim), c_in, c_out, emb_dim, seed) in float64."""
    x = rng.normal(size=(n, c_in, *hw))
    return x, rng.normal(size=(n, emb_dim)), rng.normal(size=(n, emb_dim)), c_in, c_out, emb_dim, seed


def _block_outputs(block, x, emb, other_emb) -> dict:
    import torch

    with torch.no_grad():
        return {"output": block(_torch(x), _torch(emb)), "output_other_embedding": block(_torch(x), _torch(other_emb))}


def run_time_res_block(cls, args) -> dict:
    """Build the student's block, copy the reference's weights into it by name, run it with two embeddings."""
    from torch import nn

    x, emb, other_emb, c_in, c_out, emb_dim, seed = args
    block = cls(int(c_in), int(c_out), int(emb_dim))
    if not isinstance(block, nn.Module):
        raise TypeError(f"TimeResBlock(...) must build an nn.Module, got {type(block).__name__}")
    for name, kind in (("norm1", nn.GroupNorm), ("conv1", nn.Conv2d), ("emb", nn.Linear), ("norm2", nn.GroupNorm),
                       ("conv2", nn.Conv2d)):
        if not isinstance(getattr(block, name, None), kind):
            raise TypeError(f"TimeResBlock needs an attribute {name!r} that is an nn.{kind.__name__}")
    reference = reference_res_block(c_in, c_out, emb_dim, seed)
    block = block.double()
    try:
        block.load_state_dict(reference.state_dict())
    except RuntimeError as error:  # missing, extra or misshapen parameters
        raise TypeError("TimeResBlock's parameters must be exactly norm1, conv1, emb, norm2, conv2 and skip (a 1x1 "
                        "nn.Conv2d when c_in != c_out, nn.Identity otherwise) with the shapes the text gives: "
                        f"{str(error).splitlines()[0]}") from None
    return _block_outputs(block.eval(), x, emb, other_emb)


def _time_res_block_reference(x, emb, other_emb, c_in, c_out, emb_dim, seed):
    return _block_outputs(reference_res_block(c_in, c_out, emb_dim, seed), x, emb, other_emb)


def compare_time_res_block(actual, expected, args) -> None:
    x, emb, other_emb, c_in, c_out, emb_dim, seed = args
    out = np.asarray(actual["output"])
    wanted = (x.shape[0], int(c_out), *x.shape[2:])
    if out.shape != wanted:
        raise CheckFailed(f"expected an output of shape {wanted} (N, c_out, H, W), got {out.shape}")
    if np.allclose(out, np.asarray(actual["output_other_embedding"]), atol=1e-9):
        raise CheckFailed("another embedding gives the same output: split emb(SiLU(emb_vector)) into a scale and a "
                          "shift per channel and apply them after norm2, norm2(h) * (1 + scale) + shift, one pair "
                          "per image (a shift added before norm2 is removed by it)")
    close(atol=1e-8, rtol=1e-8, dtype="float64")(actual, expected, args)


# --------------------------------------------------------------------------- drop_labels

def run_drop_labels(fn, args):
    import torch

    labels, p, null, seed = args
    labels_t = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    before = labels_t.clone()
    out = fn(labels_t, float(p), int(null), torch.Generator().manual_seed(int(seed)))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"drop_labels must return a tensor, got {type(out).__name__}")
    return {"out": out.numpy(), "dtype": str(out.dtype), "input_unchanged": bool(torch.equal(before, labels_t)),
            "same_seed_same_result": bool(torch.equal(out, fn(labels_t, float(p), int(null), torch.Generator().manual_seed(int(seed)))))}


def compare_drop_labels(actual, expected, args) -> None:
    labels, p, null, seed = args
    out = np.asarray(actual["out"])
    if actual["dtype"] != "torch.int64":
        raise CheckFailed(f"return int64 labels (like the input), got {actual['dtype']}")
    if out.shape != np.shape(labels):
        raise CheckFailed(f"expected shape {np.shape(labels)}, got {out.shape}")
    if not bool(actual["input_unchanged"]):
        raise CheckFailed("the input labels were changed in place: return a new tensor")
    kept = out == labels
    dropped = out == null
    if not np.all(kept | dropped):
        raise CheckFailed("every label must either stay as it was or become null_label")
    fraction = float(np.mean(dropped & (np.asarray(labels) != null)))
    n = len(labels)
    margin = 4 * np.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-9
    if abs(fraction - p) > margin:
        raise CheckFailed(f"with p_uncond={p} about {p:.0%} of the labels should be dropped; {fraction:.1%} of {n} were")
    if not bool(actual["same_seed_same_result"]):
        raise CheckFailed("draw the randomness from the generator you are given, so that a seed repeats the result")


# --------------------------------------------------------------------------- train_loop, ddpm_sample, ddim_sample

def _tiny_model(seed: int, num_classes: int, dtype):
    """A small random TinyUNet (width 8) on 8x8 images, in ``dtype``: the model the loop and sampler checks run."""
    import torch

    from cvcourse_utils.diffusion import TinyUNet

    torch.manual_seed(int(seed))
    return TinyUNet(1, width=8, num_classes=int(num_classes)).to(dtype)


def train_inputs(rng: np.random.Generator, n: int, num_timesteps: int, steps: int, batch_size: int, lr: float,
                 p_uncond: float, seed: int) -> tuple:
    """(images (n, 1, 8, 8) in [-1, 1], labels (n,) of 10 classes, alphas_cumprod, steps, batch_size, lr, p_uncond, seed)."""
    return (rng.uniform(-1, 1, size=(n, 1, 8, 8)), rng.integers(0, 10, size=n), cosine_alphas_cumprod(num_timesteps),
            steps, batch_size, lr, p_uncond, seed)


def run_train_loop(fn, args) -> dict:
    """Train a fixed float64 TinyUNet with the student's loop and a seeded generator; report losses and weights."""
    import torch

    images, labels, abar, steps, batch_size, lr, p_uncond, seed = args
    model = _tiny_model(seed, 10, torch.float64).train()
    losses = fn(model, _torch(images), _torch(labels), _torch(abar), steps=int(steps), batch_size=int(batch_size),
                lr=float(lr), p_uncond=float(p_uncond), generator=torch.Generator().manual_seed(int(seed)))
    if not isinstance(losses, (list, tuple)):
        raise TypeError(f"train_loop must return a list of the steps' losses (floats), got {type(losses).__name__}")
    return {"losses": np.asarray([float(v) for v in losses], dtype=np.float64),
            "weights": np.concatenate([p.detach().reshape(-1).numpy() for p in model.parameters()])}


def _train_loop_reference(images, labels, abar, steps, batch_size, lr, p_uncond, seed) -> dict:
    """The loop with torch's Adam and F.mse_loss, diffusers' add_noise for the noising, the draws in the text's order."""
    import torch
    import torch.nn.functional as F

    model = _tiny_model(seed, 10, torch.float64).train()
    images, labels = _torch(images), _torch(labels)
    sched = _ddpm(len(abar), abar)
    gen = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
    losses = []
    for _ in range(int(steps)):
        idx = torch.randint(0, len(images), (int(batch_size),), generator=gen)
        x0, y = images[idx], labels[idx]
        y = torch.where(torch.rand(y.shape, generator=gen) < float(p_uncond), torch.full_like(y, model.num_classes), y)
        t = torch.randint(0, len(abar), (int(batch_size),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen, dtype=x0.dtype)
        loss = F.mse_loss(model(sched.add_noise(x0, noise, t), t, y), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {"losses": np.asarray(losses), "weights": np.concatenate([p.detach().reshape(-1).numpy() for p in model.parameters()])}


def compare_train_loop(actual, expected, args) -> None:
    steps = int(args[3])
    if len(actual["losses"]) != steps:
        raise CheckFailed(f"return one loss per step: expected {steps}, got {len(actual['losses'])}")
    if not np.allclose(actual["losses"][:1], expected["losses"][:1], atol=1e-8, rtol=1e-8):
        raise CheckFailed(f"the first step's loss is {actual['losses'][0]:.6f}, expected {expected['losses'][0]:.6f}: draw "
                          "the batch, the dropped labels (your drop_labels), t and the noise from the generator in the "
                          "order the text gives, and take your diffusion_loss")
    close(atol=1e-8, rtol=1e-6, dtype="float64")(actual, expected, args)


def sampler_inputs(n: int, hw: int, num_timesteps: int, num_classes: int, guidance: float, seed: int, model_seed: int,
                   num_steps: int = 0, eta: float = 0.0) -> tuple:
    """(n, (1, hw, hw), T, num_classes, guidance_scale, seed, model_seed, num_steps, eta) for a sampler check."""
    return n, (1, hw, hw), num_timesteps, num_classes, guidance, seed, model_seed, num_steps, eta


def _sampler_setup(args):
    import torch

    n, shape, T, num_classes, guidance, seed, model_seed, num_steps, eta = args
    model = _tiny_model(model_seed, num_classes, torch.float32).eval()
    abar = torch.from_numpy(cosine_alphas_cumprod(int(T))).float()
    labels = (torch.arange(int(n)) % int(num_classes)) if num_classes else None
    return model, abar, labels


def run_ddpm_sample(fn, args):
    import torch

    n, shape, T, num_classes, guidance, seed, model_seed, num_steps, eta = args
    model, abar, labels = _sampler_setup(args)
    with torch.no_grad():
        return fn(model, int(n), tuple(shape), abar, labels=labels, guidance_scale=float(guidance),
                  generator=torch.Generator().manual_seed(int(seed)))


def _ddpm_sample_reference(n, shape, T, num_classes, guidance, seed, model_seed, num_steps, eta):
    from cvcourse_utils.diffusion import sample_ddpm

    model, abar, labels = _sampler_setup((n, shape, T, num_classes, guidance, seed, model_seed, num_steps, eta))
    return sample_ddpm(model, int(n), abar, labels=labels, guidance_scale=float(guidance), seed=int(seed),
                       shape=tuple(shape), device="cpu")


def run_ddim_sample(fn, args):
    import torch

    n, shape, T, num_classes, guidance, seed, model_seed, num_steps, eta = args
    model, abar, labels = _sampler_setup(args)
    with torch.no_grad():
        return fn(model, int(n), tuple(shape), abar, int(num_steps), labels=labels, guidance_scale=float(guidance),
                  eta=float(eta), generator=torch.Generator().manual_seed(int(seed)))


def _ddim_sample_reference(n, shape, T, num_classes, guidance, seed, model_seed, num_steps, eta):
    from cvcourse_utils.diffusion import sample_ddim

    model, abar, labels = _sampler_setup((n, shape, T, num_classes, guidance, seed, model_seed, num_steps, eta))
    return sample_ddim(model, int(n), abar, num_steps=int(num_steps), eta=float(eta), labels=labels,
                       guidance_scale=float(guidance), seed=int(seed), shape=tuple(shape), device="cpu", spacing="trailing")


# --------------------------------------------------------------------------- what each task must not use

#: diffusers (its schedulers, timestep embeddings and U-Net blocks) is what the checks compare with; the lab uses none
#: of it, so an answer may use none of it either.
DIFFUSERS = ("diffusers",)
#: What time_res_block must not use: the course's ResBlock, and its TinyUNet, whose default blocks are ResBlocks
#: (``type(TinyUNet(1).mid)`` is ResBlock at run time). Known problem in the shared reader (reported to the lead):
#: under nbval (cells run with store_history=False, so ``In`` stays empty) ``taught.notebook_sources`` finds no source
#: for a class defined in a notebook and ``inspect.getsource`` cannot read it on Python 3.11, so ``check`` flags the
#: solution's own class as "no definition of `TimeResBlock`" (any declaration does, even forbidden=()); in JupyterLab
#: and in the grader the class is read and the solution passes.
TIME_RES_BLOCK_FORBIDDEN = DIFFUSERS + ("cvcourse_utils.diffusion.ResBlock", "cvcourse_utils.diffusion.TinyUNet")

#: The course's training and sampling code: what train_loop, ddpm_sample and ddim_sample must not hand their work to.
COURSE_TRAINING = ("cvcourse_utils.diffusion.train_diffusion", "cvcourse_utils.diffusion.DenoisingObjective",
                   "cvcourse_utils.diffusion.train_digits_diffusion", "cvcourse_utils.training.fit",
                   "cvcourse_utils.diffusion.q_sample", "cvcourse_utils.diffusion.drop_labels",
                   "cvcourse_utils.latent_diffusion.TextDenoisingObjective")
COURSE_SAMPLING = ("cvcourse_utils.diffusion.sample_ddpm", "cvcourse_utils.diffusion.sample_ddim",
                   "cvcourse_utils.diffusion._sample", "cvcourse_utils.diffusion._guided_eps",
                   "cvcourse_utils.diffusion.ddpm_step", "cvcourse_utils.diffusion.ddim_step",
                   "cvcourse_utils.diffusion.ddim_timesteps", "cvcourse_utils.diffusion.cfg_guidance")

# --------------------------------------------------------------------------- tasks, in notebook order

TASKS = (
    Task(
        name="linear_beta_schedule",
        function="linear_beta_schedule",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.linear_beta_schedule", "cvcourse_utils.diffusion.make_schedule"),
        by_hand='space the betas evenly yourself (torch.linspace is fine)',
        cases=(Case("T = 1000, DDPM's 1e-4 to 0.02", lambda rng: (1000, 1e-4, 0.02)),
               Case("T = 50, 1e-3 to 0.05", lambda rng: (50, 1e-3, 0.05))),
        reference=_linear_reference,
        compare=close(atol=1e-7, rtol=0.0, dtype="float32", shape=lambda args: (args[0],)),
    ),
    Task(
        name="cosine_beta_schedule",
        function="cosine_beta_schedule",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.cosine_beta_schedule", "cvcourse_utils.diffusion.make_schedule"),
        by_hand="compute the cosine schedule's betas from its formula yourself",
        cases=(Case("T = 1000", lambda rng: (1000,)), Case("T = 20", lambda rng: (20,))),
        reference=_cosine_reference,
        compare=close(atol=1e-6, rtol=0.0, dtype="float32", shape=lambda args: (args[0],)),
    ),
    Task(
        name="cumulative_alphas",
        function="cumulative_alphas",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.alphas_cumprod_from_betas", "cvcourse_utils.diffusion.make_schedule"),
        by_hand='take the cumulative product of 1 - beta yourself (torch.cumprod is fine)',
        cases=(Case("the float64 betas of a linear schedule, T = 100", lambda rng: (np.linspace(1e-3, 0.05, 100),)),
               Case("30 random betas in [0.001, 0.2)", lambda rng: (rng.uniform(0.001, 0.2, size=30),))),
        reference=_cumprod_reference,
        compare=close(atol=1e-6, rtol=0.0, dtype="float64"),
        call=torch_call,
    ),
    Task(
        name="q_sample",
        function="q_sample",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.q_sample",),
        by_hand='mix x0 and the noise with sqrt(abar_t) and sqrt(1 - abar_t) yourself',
        cases=(Case("4 images (4, 1, 6, 6), t from 0 to T-1, T = 100",
                    lambda rng: (rng.uniform(-1, 1, (4, 1, 6, 6)), np.array([0, 10, 50, 99]), rng.normal(size=(4, 1, 6, 6)),
                                 cosine_alphas_cumprod(100))),
               Case("3 RGB images (3, 3, 4, 5), T = 20",
                    lambda rng: (rng.uniform(-1, 1, (3, 3, 4, 5)), rng.integers(0, 20, 3), rng.normal(size=(3, 3, 4, 5)),
                                 cosine_alphas_cumprod(20)), seed=1)),
        reference=_q_sample_reference,
        compare=close(atol=1e-10, rtol=1e-10, dtype="float64"),
        call=torch_call,
    ),
    Task(
        name="sinusoidal_embedding",
        function="sinusoidal_embedding",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.timestep_embedding", "cvcourse_utils.vit.sinusoidal_positions"),
        by_hand='compute the frequencies, the cosines and the sines yourself',
        cases=(Case("t = 0, 1, 10, 199, dim 32", lambda rng: (np.array([0, 1, 10, 199]), 32)),
               Case("5 random t < 1000, dim 8", lambda rng: (rng.integers(0, 1000, 5), 8), seed=1)),
        reference=_embedding_reference,
        compare=close(atol=1e-4, rtol=0.0, dtype="float32", shape=lambda args: (len(args[0]), args[1])),
        call=torch_call,
    ),
    Task(
        name="time_res_block",
        function="TimeResBlock",
        forbidden=TIME_RES_BLOCK_FORBIDDEN,
        by_hand="build the residual block with its embedding yourself (GroupNorm, SiLU, Conv2d and Linear are fine)",
        cases=(Case("8 -> 16 channels (a 1x1 skip), 2 images 6x6, embedding 12",
                    lambda rng: block_inputs(rng, 2, 8, 16, (6, 6), 12, seed=0)),
               Case("16 -> 16 channels (identity skip), 3 images 5x7, embedding 4",
                    lambda rng: block_inputs(rng, 3, 16, 16, (5, 7), 4, seed=1), seed=1),
               Case("16 -> 8 channels: one channel per group in norm2, 2 images 4x4, embedding 6",
                    lambda rng: block_inputs(rng, 2, 16, 8, (4, 4), 6, seed=2), seed=2)),
        reference=_time_res_block_reference,
        compare=compare_time_res_block,
        call=run_time_res_block,
    ),
    Task(
        name="diffusion_loss",
        function="diffusion_loss",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.q_sample", "cvcourse_utils.diffusion.DenoisingObjective", "cvcourse_utils.latent_diffusion.TextDenoisingObjective"),
        by_hand='noise x0 with your own q_sample and take the mean squared error yourself',
        cases=(Case("a fixed small U-Net, 6 images 8x8, unconditional",
                    lambda rng: (*loss_inputs(rng, 6, 50), 0, 0, False)),
               Case("a fixed small U-Net with 10 classes, 5 images", lambda rng: (*loss_inputs(rng, 5, 50), 10, 1, False), seed=1),
               Case("a model that knows the noise exactly: the loss is 0", lambda rng: (*loss_inputs(rng, 4, 50), 0, 0, True), seed=2)),
        reference=_loss_reference,
        compare=close(atol=1e-8, rtol=1e-8, dtype="float64", shape=()),
        call=run_diffusion_loss,
    ),
    Task(
        name="drop_labels",
        function="drop_labels",
        forbidden=("cvcourse_utils.diffusion.drop_labels",),
        by_hand='draw which labels to drop with the generator you are given, yourself',
        cases=(Case("4,000 labels of 10 classes, p_uncond = 0.2", lambda rng: (rng.integers(0, 10, 4000), 0.2, 10, 0)),
               Case("p_uncond = 0 keeps every label", lambda rng: (rng.integers(0, 10, 50), 0.0, 10, 1)),
               Case("p_uncond = 1 drops every label", lambda rng: (rng.integers(0, 3, 20), 1.0, 3, 2))),
        compare=compare_drop_labels,
        call=run_drop_labels,
    ),
    Task(
        name="train_loop",
        function="train_loop",
        forbidden=DIFFUSERS + COURSE_TRAINING,
        by_hand='write the training loop yourself: draw a batch, drop labels, draw t and the noise, take your '
                'diffusion_loss and step the optimiser',
        cases=(Case("5 steps of 4 on 12 images 8x8, T = 50, p_uncond = 0.3",
                    lambda rng: train_inputs(rng, 12, 50, 5, 4, 1e-2, 0.3, seed=0)),
               Case("3 steps of 6, T = 20, no label dropped", lambda rng: train_inputs(rng, 9, 20, 3, 6, 3e-3, 0.0, seed=1),
                    seed=1)),
        reference=_train_loop_reference,
        compare=compare_train_loop,
        call=run_train_loop,
    ),
    Task(
        name="ddpm_step",
        function="ddpm_step",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.ddpm_step",),
        by_hand='write the DDPM update (x0 estimate, posterior mean and variance) yourself',
        cases=(Case("t = 120 of T = 200, x0 clipped", lambda rng: step_inputs(rng, (3, 1, 4, 4), 200, 120, True)),
               Case("t = 7 of T = 50, no clipping", lambda rng: step_inputs(rng, (2, 3, 5, 5), 50, 7, False), seed=1),
               Case("t = 0: the last step adds no noise", lambda rng: step_inputs(rng, (2, 1, 4, 4), 50, 0, True), seed=2)),
        reference=_ddpm_step_reference,
        compare=close(atol=1e-6, rtol=1e-6, dtype="float64"),
        call=torch_call,
    ),
    Task(
        name="ddim_step",
        function="ddim_step",
        forbidden=DIFFUSERS + ("cvcourse_utils.diffusion.ddim_step",),
        by_hand='write the DDIM update (x0 estimate, sigma and the direction to x_t) yourself',
        cases=(Case("t = 196 -> 192 of T = 200, eta = 0, clipped", lambda rng: ddim_inputs(rng, (3, 1, 4, 4), 200, 196, 4, 0.0, True)),
               Case("t = 30 -> 20 of T = 100, eta = 0.5, no clipping",
                    lambda rng: ddim_inputs(rng, (2, 3, 4, 4), 100, 30, 10, 0.5, False), seed=1),
               Case("t = 4 -> -1 (the last step: abar = 1), eta = 0", lambda rng: ddim_inputs(rng, (2, 1, 4, 4), 200, 4, 5, 0.0, True),
                    seed=2)),
        reference=_ddim_step_reference,
        compare=close(atol=1e-6, rtol=1e-6, dtype="float64"),
        call=torch_call,
    ),
    Task(
        name="cfg_guidance",
        function="cfg_guidance",
        forbidden=("cvcourse_utils.diffusion.cfg_guidance", "torch.lerp", ".lerp", ".lerp_"),
        by_hand='combine the two estimates with the guidance formula yourself',
        cases=(Case("scale 3 on (2, 1, 4, 4) noise estimates", lambda rng: (rng.normal(size=(2, 1, 4, 4)), rng.normal(size=(2, 1, 4, 4)), 3.0)),
               Case("scale 0 is the unconditional estimate", lambda rng: (rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), 0.0), seed=1)),
        reference=_cfg_reference,
        compare=close(atol=1e-12, rtol=1e-12, dtype="float64"),
        call=torch_call,
    ),
    Task(
        name="ddpm_sample",
        function="ddpm_sample",
        forbidden=DIFFUSERS + COURSE_SAMPLING,
        by_hand='loop over the timesteps yourself, calling your ddpm_step (and your cfg_guidance)',
        cases=(Case("4 digits 8x8, T = 12, guidance 2", lambda rng: sampler_inputs(4, 8, 12, 3, 2.0, seed=0, model_seed=0)),
               Case("3 images, T = 8, guidance 1 (the conditional model alone)",
                    lambda rng: sampler_inputs(3, 8, 8, 2, 1.0, seed=1, model_seed=1)),
               Case("an unconditional model (labels None), T = 6", lambda rng: sampler_inputs(2, 8, 6, 0, 1.0, seed=2, model_seed=2))),
        reference=_ddpm_sample_reference,
        compare=close(atol=1e-4, rtol=1e-4, dtype="float32", shape=lambda args: (args[0], *args[1])),
        call=run_ddpm_sample,
    ),
    Task(
        name="ddim_sample",
        function="ddim_sample",
        forbidden=DIFFUSERS + COURSE_SAMPLING,
        by_hand="space the timesteps ('trailing') and loop over them yourself, calling your ddim_step (and your cfg_guidance)",
        cases=(Case("4 digits, T = 20 in 5 steps (t = 19, 15, 11, 7, 3), guidance 3, eta = 0",
                    lambda rng: sampler_inputs(4, 8, 20, 3, 3.0, seed=0, model_seed=0, num_steps=5)),
               Case("T = 12 in 4 steps, eta = 1 (fresh noise at every step), guidance 1",
                    lambda rng: sampler_inputs(3, 8, 12, 2, 1.0, seed=1, model_seed=1, num_steps=4, eta=1.0)),
               Case("an unconditional model, T = 9 in 2 steps (9 // 2 = 4 apart: t = 8, 4)",
                    lambda rng: sampler_inputs(2, 8, 9, 0, 1.0, seed=2, model_seed=2, num_steps=2))),
        reference=_ddim_sample_reference,
        compare=close(atol=1e-4, rtol=1e-4, dtype="float32", shape=lambda args: (args[0], *args[1])),
        call=run_ddim_sample,
    ),
)
