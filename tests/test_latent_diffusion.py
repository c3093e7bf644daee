"""cvcourse_utils.latent_diffusion: the autoencoder, the text-to-image model's wiring, its objective and its measures."""
import numpy as np
import pytest
import torch

from cvcourse_utils import latent_diffusion as L
from cvcourse_utils.datasets.captions import CAPTION_SHAPES, COLOR_NAMES, COLOR_RGB, load_captioned_shapes


def test_autoencoder_shapes_and_ranges():
    torch.manual_seed(0)
    ae = L.ShapesAutoencoder(width=8).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        z, out = ae.encode(x), ae(x)
        ae.train()
        noisy = ae(x)
    assert z.shape == (3, 4, 8, 8) and float(z.abs().max()) <= 1.0
    assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    assert not torch.allclose(noisy, out), "training adds noise to the latents"
    one = L.ShapesAutoencoder(width=8, downsamplings=1).eval()
    with torch.no_grad():
        assert one.encode(x).shape == (3, 4, 16, 16) and one(x).shape == x.shape
    with pytest.raises(ValueError, match="at least 1"):
        L.ShapesAutoencoder(downsamplings=0)


def test_colour_from_pixels_reads_real_captioned_shapes():
    data = load_captioned_shapes("test", n=200, pairs="all")
    found = L.colour_from_pixels(data.image_tensor())
    assert found.dtype == np.int64 and found.shape == (200,)
    assert (found == np.asarray(data.colors)).mean() >= 0.98
    painted = torch.zeros(len(COLOR_RGB), 3, 16, 16)
    painted[:, :, 4:12, 4:12] = torch.from_numpy(COLOR_RGB)[:, :, None, None]
    assert L.colour_from_pixels(painted).tolist() == list(range(len(COLOR_NAMES)))
    assert L.colour_from_pixels(torch.zeros(1, 3, 8, 8)).tolist() == [-1], "no bright pixel: no colour"
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        L.colour_from_pixels(torch.zeros(2, 1, 8, 8))


def test_prompts_grid_covers_every_pair():
    prompts, shapes, colours = L.prompts_grid(2)
    assert len(prompts) == 50 and prompts[0] == prompts[1] == f"a {COLOR_NAMES[0]} {CAPTION_SHAPES[0]}"
    assert len(set(zip(shapes.tolist(), colours.tolist()))) == 25
    assert all(COLOR_NAMES[c] in p and CAPTION_SHAPES[s] in p for p, s, c in zip(prompts, shapes, colours))


def _tiny_config():
    config = L.text_to_image_config()
    config.update(width=16, timesteps=10)
    return config


def test_text_to_image_wiring_and_objective():
    torch.manual_seed(0)
    model = L.build_text_to_image(_tiny_config())
    context, mask = model.encode_text(["a red star", "a large blue circle at the top"])
    assert context.shape[:2] == mask.shape and context.shape[-1] == model.text_encoder.width
    assert mask.sum(1).tolist() == [3, 7]
    images = model.generate(["a red star", "a green cross"], num_steps=3, seed=1)
    assert images.shape == (2, 3, 32, 32) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert torch.equal(images, model.generate(["a red star", "a green cross"], num_steps=3, seed=1)), "DDIM is deterministic"
    objective = L.TextDenoisingObjective(model.unet, model.alphas_cumprod, context, mask, p_uncond=0.5).train()
    loss = objective.loss(torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 1]))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert model.unet.cross["block1"].attn.out_proj.weight.grad is not None and model.unet.pool_query.grad is not None
    assert model.text_encoder.token_embed.weight.grad is None, "the text encoder stays frozen"


def test_text_unet_reads_the_text_and_the_null_token():
    torch.manual_seed(0)
    net = L.TextUNet(3, width=16, context_dim=8, patch=4).eval()
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([3, 3])
    context = torch.randn(2, 5, 8)
    with torch.no_grad():
        empty = net(x, t, context=context, context_mask=torch.zeros(2, 5, dtype=torch.bool))
        assert torch.allclose(empty, net(x, t)), "no real token is the same as no text"
        other = context.clone()
        other[:, 3:] = torch.randn(2, 2, 8)
        mask = torch.tensor([[True, True, True, False, False]] * 2)
        assert torch.allclose(net(x, t, context=context, context_mask=mask), net(x, t, context=other, context_mask=mask)), \
            "padding is ignored"
        assert not torch.allclose(net(x, t, context=context, context_mask=mask), empty), "the text changes the output"
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 3, 24, 24), torch.tensor([0]))


def test_text_unet_full_resolution_head_starts_as_the_plain_unet():
    torch.manual_seed(0)
    plain = L.TextUNet(3, width=16, context_dim=8, patch=4).eval()
    headed = L.TextUNet(3, width=16, context_dim=8, patch=4, head=8).eval()
    missing, unexpected = headed.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("head") for k in missing)
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([3, 150])
    with torch.no_grad():
        assert torch.allclose(headed(x, t), plain(x, t), atol=1e-6), "a zero last conv adds nothing at the start"
    (headed(x, t) - x).square().mean().backward()
    assert headed.head_out.weight.grad.abs().sum() > 0, "the head learns"
    assert plain.head is None


def test_noise_from_x0_round_trips_through_ddim():
    from cvcourse_utils.diffusion import ddim_step, make_schedule, q_sample

    abar = make_schedule(20)["alphas_cumprod"]
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1

    class Oracle(torch.nn.Module):  # an x0-predictor that knows the answer
        in_channels = 3

        def forward(self, x_t, t, labels=None, **cond):
            return x0

    eps = torch.randn_like(x0)
    t = torch.tensor([12, 12])
    x_t = q_sample(x0, t, eps, abar)
    recovered = L.NoiseFromX0(Oracle(), abar)(x_t, t)
    assert torch.allclose(recovered, eps, atol=1e-4)
    assert torch.allclose(ddim_step(recovered, 12, -1, x_t, abar), x0, atol=1e-4), "DDIM's last step returns the x0 estimate"


def test_foreground_weighted_mse():
    target = torch.zeros(1, 3, 4, 4)
    target[..., :2, :2] = 0.9  # 4 of the 16 pixels belong to the shape
    off_shape, off_background = target.clone(), target.clone()
    off_shape[..., 0, 0] -= 0.5
    off_background[..., 3, 3] += 0.5
    loss = L.ForegroundWeightedMSE(5.0)
    assert float(loss(off_shape, target)) == pytest.approx(5 * float(loss(off_background, target)))
    assert float(L.ForegroundWeightedMSE(1.0)(off_shape, target)) == pytest.approx(float(((off_shape - target) ** 2).mean()))
