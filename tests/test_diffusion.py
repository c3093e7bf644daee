"""cvcourse_utils.diffusion: schedules and sampler steps against diffusers, the U-Net, training and sampling."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvcourse_utils import diffusion as D

diffusers = pytest.importorskip("diffusers")


@pytest.mark.parametrize("T", [1, 20, 200, 1000])
def test_schedules_equal_diffusers(T):
    cos = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2")
    lin = diffusers.DDPMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02)
    assert torch.allclose(D.cosine_beta_schedule(T), cos.betas, atol=1e-6, rtol=0)
    assert torch.allclose(D.linear_beta_schedule(T), lin.betas, atol=1e-7, rtol=0)
    assert torch.allclose(D.alphas_cumprod_from_betas(cos.betas), cos.alphas_cumprod, atol=1e-6, rtol=0)
    schedule = D.make_schedule(T, "cosine")
    assert set(schedule) == {"betas", "alphas", "alphas_cumprod"} and schedule["betas"].shape == (T,)


def test_make_schedule_rejects_unknown_kind():
    with pytest.raises(ValueError):
        D.make_schedule(10, "quadratic")


def _abar(T=50):
    return D.make_schedule(T)["alphas_cumprod"].double()


def test_q_sample_equals_add_noise():
    abar = _abar()
    sched = diffusers.DDPMScheduler(num_train_timesteps=50)
    sched.alphas_cumprod = abar
    x0, noise = torch.rand(4, 1, 5, 5, dtype=torch.float64), torch.randn(4, 1, 5, 5, dtype=torch.float64)
    t = torch.tensor([0, 3, 25, 49])
    assert torch.allclose(D.q_sample(x0, t, noise, abar), sched.add_noise(x0, noise, t), atol=1e-12)


@pytest.mark.parametrize("t", [0, 1, 30, 49])
@pytest.mark.parametrize("clip", [True, False])
def test_ddpm_step_equals_diffusers(t, clip):
    abar = _abar()
    sched = diffusers.DDPMScheduler(num_train_timesteps=50, clip_sample=clip)
    sched.alphas_cumprod = abar
    x, eps = torch.randn(2, 1, 4, 4, dtype=torch.float64), torch.randn(2, 1, 4, 4, dtype=torch.float64)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    expected = sched.step(eps, t, x, generator=torch.Generator().manual_seed(5)).prev_sample
    assert torch.allclose(D.ddpm_step(eps, t, x, abar, noise, clip), expected, atol=1e-10)


@pytest.mark.parametrize("t,stride,eta", [(45, 5, 0.0), (20, 10, 0.5), (4, 5, 1.0)])
def test_ddim_step_equals_diffusers(t, stride, eta):
    abar = _abar()
    sched = diffusers.DDIMScheduler(num_train_timesteps=50)
    sched.alphas_cumprod = abar
    sched.set_timesteps(50 // stride)
    x, eps, noise = (torch.randn(2, 1, 4, 4, dtype=torch.float64) for _ in range(3))
    expected = sched.step(eps, t, x, eta=eta, variance_noise=noise).prev_sample
    assert torch.allclose(D.ddim_step(eps, t, t - stride, x, abar, eta, noise), expected, atol=1e-10)
    assert D.ddim_timesteps(50, 50 // stride) == [int(v) for v in sched.timesteps]


@pytest.mark.parametrize("T,steps", [(200, 5), (200, 50), (50, 10), (40, 40)])
def test_trailing_ddim_timesteps_equal_diffusers(T, steps):
    sched = diffusers.DDIMScheduler(num_train_timesteps=T, timestep_spacing="trailing")
    sched.set_timesteps(steps)
    assert D.ddim_timesteps(T, steps, "trailing") == [int(v) for v in sched.timesteps]
    assert D.ddim_timesteps(T, steps, "trailing")[0] == T - 1  # the first step starts from pure noise
    with pytest.raises(ValueError):
        D.ddim_timesteps(T, steps, "linspace")


def test_train_diffusion_progress_bar_counts_every_step(capsys):
    model = D.TinyUNet(1, width=8, num_classes=2)
    x, y = torch.rand(16, 1, 8, 8) * 2 - 1, torch.randint(0, 2, (16,))
    abar = D.make_schedule(10)["alphas_cumprod"]
    D.train_diffusion(model, x, y, abar, steps=6, batch_size=4, device="cpu", progress=True)
    assert "8/8" in capsys.readouterr().err  # 2 epochs of 4 batches: one bar over both
    D.train_diffusion(model, x, y, abar, steps=6, batch_size=4, device="cpu")  # a short run: no bar by default
    assert "training steps" not in capsys.readouterr().err


def test_timestep_embedding_equals_diffusers():
    from diffusers.models.embeddings import get_timestep_embedding

    t = torch.tensor([0, 1, 17, 999])
    expected = get_timestep_embedding(t, 32, flip_sin_to_cos=True, downscale_freq_shift=0)
    assert torch.allclose(D.timestep_embedding(t, 32), expected, atol=1e-5)


def test_cfg_and_drop_labels():
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.allclose(D.cfg_guidance(a, b, 2.5), torch.lerp(a, b, 2.5))
    labels = torch.randint(0, 10, (5000,))
    dropped = D.drop_labels(labels, 0.2, 10, torch.Generator().manual_seed(0))
    assert torch.all((dropped == labels) | (dropped == 10))
    assert abs(float((dropped == 10).float().mean()) - 0.2) < 0.03
    assert torch.equal(D.drop_labels(labels, 0.0, 10), labels)


def test_unet_shapes_and_conditioning():
    torch.manual_seed(0)
    net = D.TinyUNet(1, width=8, num_classes=3).eval()
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 40])
    out = net(x, t, torch.tensor([0, 1]))
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t, torch.tensor([2, 2])))
    assert not torch.allclose(out, net(x, torch.tensor([90, 1]), torch.tensor([0, 1])))
    text = D.TinyUNet(4, width=8, context_dim=16).eval()
    z = torch.randn(2, 4, 8, 8)
    ctx, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)
    assert text(z, t, None, context=ctx, context_mask=mask).shape == z.shape


def test_ema_moves_towards_the_weights():
    net = torch.nn.Linear(2, 2)
    ema = D.EMA(net, decay=0.5)
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.model.weight, net.weight - 0.5)


def test_training_lowers_the_loss_and_samplers_run():
    torch.manual_seed(0)
    abar = D.make_schedule(20)["alphas_cumprod"]
    images = D.from_unit(torch.rand(64, 1, 8, 8).round())
    labels = torch.arange(64) % 2
    net = D.TinyUNet(1, width=8, num_classes=2)
    ema, history = D.train_diffusion(net, images, labels, abar, steps=40, batch_size=16, device="cpu")
    assert history["train_loss"][-1] < history["train_loss"][0]
    a = D.sample_ddpm(ema.model, 4, abar, labels=[0, 1, 0, 1], guidance_scale=2.0, shape=(1, 8, 8), seed=3, device="cpu")
    b = D.sample_ddim(ema.model, 4, abar, num_steps=5, labels=[0, 1, 0, 1], guidance_scale=2.0, shape=(1, 8, 8), seed=3,
                      device="cpu")
    again = D.sample_ddim(ema.model, 4, abar, num_steps=5, labels=[0, 1, 0, 1], guidance_scale=2.0, shape=(1, 8, 8), seed=3,
                          device="cpu")
    assert a.shape == b.shape == (4, 1, 8, 8) and torch.isfinite(a).all()
    assert torch.equal(b, again), "DDIM with eta = 0 is deterministic for a seed"
    assert float(b.abs().max()) <= 1 + 1e-5


def test_unet_patch_folding_and_odd_sizes():
    torch.manual_seed(0)
    net = D.TinyUNet(1, width=8, num_classes=2, patch=2).eval()
    x = torch.randn(3, 1, 28, 28)  # folded to 14x14, then 7x7 and 4x4 inside
    assert net(x, torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2])).shape == x.shape
    assert net.conv_in.in_channels == 4 and net.conv_out.out_channels == 4
    with pytest.raises(ValueError, match="divisible by patch=2"):
        net(torch.randn(1, 1, 27, 27), torch.tensor([0]))
    assert D.TinyUNet(2, width=8).eval()(torch.randn(1, 2, 6, 10), torch.tensor([0])).shape == (1, 2, 6, 10)


def test_unet_builds_its_blocks_with_the_given_factory():
    built = []

    def block(c_in, c_out, emb_dim):
        built.append((c_in, c_out, emb_dim))
        return D.ResBlock(c_in, c_out, emb_dim)

    D.TinyUNet(1, width=16, block=block)
    assert built == [(16, 16, 64), (16, 32, 64), (32, 32, 64), (64, 32, 64), (32, 16, 64)]


def test_text_unet_treats_an_empty_text_as_no_text():
    torch.manual_seed(0)
    net = D.TinyUNet(4, width=16, context_dim=12).eval()
    z, t = torch.randn(2, 4, 8, 8), torch.tensor([5, 9])
    ctx = torch.randn(2, 6, 12)
    empty = torch.zeros(2, 6, dtype=torch.bool)
    with torch.no_grad():
        out = net(z, t, None, context=ctx, context_mask=empty)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, net(z, t, None)), "no real token: the text adds nothing"
        mask = torch.tensor([[True] * 3 + [False] * 3] * 2)
        with_text = net(z, t, None, context=ctx, context_mask=mask)
        assert not torch.allclose(with_text, out)
        changed_padding = ctx.clone()
        changed_padding[:, 3:] = torch.randn(2, 3, 12)
        assert torch.allclose(with_text, net(z, t, None, context=changed_padding, context_mask=mask), atol=1e-6), \
            "padding tokens are ignored"


@pytest.mark.parametrize("c_out", [4, 8])  # GroupNorm(min(8, c), c): one channel per group
def test_scale_shift_block_keeps_the_embedding_that_groupnorm_removes(c_out):
    torch.manual_seed(0)
    x, emb, other = torch.randn(2, 6, 5, 5), torch.randn(2, 12), torch.randn(2, 12)
    additive = D.ResBlock(6, c_out, 12).eval()
    with torch.no_grad():
        # the older block adds the embedding before norm2, which subtracts each channel's mean: nothing is left of it
        assert torch.allclose(additive(x, emb), additive(x, other), atol=1e-5)
        film = D.ResBlock(6, c_out, 12, scale_shift=True).eval()
        assert film.emb.out_features == 2 * c_out  # a scale and a shift per channel
        out = film(x, emb)
        assert out.shape == (2, c_out, 5, 5)
        assert (out - film(x, other)).abs().max() > 1e-2, "the embedding must change the block's output"


def test_scale_shift_block_applies_scale_and_shift_after_the_norm():
    torch.manual_seed(0)
    block = D.ResBlock(4, 4, 3, scale_shift=True).eval()
    x, emb = torch.randn(2, 4, 3, 3), torch.randn(2, 3)
    with torch.no_grad():
        scale, shift = block.emb(F.silu(emb)).chunk(2, dim=1)
        h = block.norm2(block.conv1(F.silu(block.norm1(x)))) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        assert torch.allclose(block(x, emb), block.conv2(F.silu(h)) + x, atol=1e-6)


def test_unet_scale_shift_option_is_backwards_compatible():
    old, new = D.TinyUNet(1, width=8, num_classes=2), D.TinyUNet(1, width=8, num_classes=2, scale_shift=True)
    assert not old.mid.scale_shift and old.mid.emb.out_features == 16  # the default: the older additive blocks
    assert new.mid.scale_shift and new.mid.emb.out_features == 32
    out = new.eval()(torch.randn(2, 1, 8, 8), torch.tensor([1, 5]), torch.tensor([0, 1]))
    assert out.shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="custom block"):
        D.TinyUNet(1, width=8, block=lambda c_in, c_out, e: D.ResBlock(c_in, c_out, e), scale_shift=True)


def test_digits_config_uses_scale_shift_blocks():
    config = D.digits_diffusion_config()
    assert config["scale_shift"] is True
    assert D.build_digits_diffusion(config).block1.scale_shift


def test_sampling_progress_counts_the_model_calls_of_a_loop_written_elsewhere():
    from cvcourse_utils.diffusion import sampling_progress

    model = torch.nn.Linear(2, 2)
    with sampling_progress(model, total=5, desc="a student's sampler") as bar:
        for _ in range(5):
            model(torch.zeros(1, 2))
        assert bar.n == 5
    model(torch.zeros(1, 2))
    assert bar.n == 5 and not model._forward_hooks  # the hook is gone after the block
    calls = []
    with pytest.raises(RuntimeError):  # also after an error inside it
        with sampling_progress(model, total=3):
            model.register_forward_hook(lambda *_: calls.append(1))
            model(torch.zeros(1, 2))
            raise RuntimeError("interrupted")
    assert len(model._forward_hooks) == 1 and calls == [1]
