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
    deeper = L.ShapesAutoencoder(width=8, downsamplings=1, extra_convs=1).eval()
    assert sum(p.numel() for p in deeper.parameters()) == sum(p.numel() for p in one.parameters()) + 2 * (9 * 16 * 16 + 16)
    with torch.no_grad():
        assert deeper.encode(x).shape == (3, 4, 16, 16) and deeper(x).shape == x.shape
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
    config.update(ae_width=8, width=16, timesteps=10)
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
    loss = objective.loss(torch.rand(2, 4, 8, 8) * 2 - 1, torch.tensor([0, 1]))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(c.attn.out_proj.weight.grad is not None for c in model.unet.cross), "cross-attention at every resolution"
    assert model.unet.context_embed.weight.grad is not None and model.unet.pool_query.grad is not None
    assert model.text_encoder.token_embed.weight.grad is None, "the text encoder stays frozen"
    z = torch.randn(2, 4, 8, 8)
    model.latent_mean.fill_(0.5)
    model.latent_std.fill_(0.25)
    assert torch.allclose(model.from_diffusion(model.to_diffusion(z)), z, atol=1e-6)
    assert torch.allclose(model.to_diffusion(torch.full((1, 4, 1, 1), 0.75)), torch.ones(1, 4, 1, 1))


def test_film_block_keeps_the_embedding_through_groupnorm():
    """The course's ResBlock adds the embedding before a GroupNorm of one channel per group, which removes it;
    FiLM scales and shifts after the norm, so two embeddings give two outputs."""
    from cvcourse_utils.diffusion import ResBlock

    torch.manual_seed(0)
    x, e1, e2 = torch.randn(2, 8, 4, 4), torch.randn(2, 16), torch.randn(2, 16)
    res, film = ResBlock(8, 8, 16), L.FiLMBlock(8, 8, 16)
    assert torch.allclose(res(x, e1), res(x, e2), atol=1e-5), "8 channels, 8 groups: the additive embedding cancels"
    assert not torch.allclose(film(x, e1), film(x, e2), atol=1e-3)


def test_no_text_ignores_the_tokens_and_text_changes_the_noise():
    torch.manual_seed(0)
    unet = L.TextUNet(4, width=16, context_dim=8)
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([3, 7])
    ctx1, ctx2 = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    none = torch.zeros(2, 5, dtype=torch.bool)
    assert torch.allclose(unet(x, t, None, ctx1, none), unet(x, t, None, ctx2, none), atol=1e-6)
    some = torch.ones(2, 5, dtype=torch.bool)
    assert not torch.allclose(unet(x, t, None, ctx1, some), unet(x, t, None, ctx2, some), atol=1e-4)


def test_trailing_timesteps_and_min_snr_weights():
    assert L.trailing_timesteps(200, 50)[:2] == [199, 195] and L.trailing_timesteps(200, 50)[-1] == 3
    assert L.trailing_timesteps(10, 10) == list(range(9, -1, -1))
    abar = torch.tensor([0.99, 0.9, 0.5, 0.1])  # SNR 99, 9, 1, 0.11
    w = L.min_snr_weights(abar, torch.arange(4), gamma=5.0)
    assert torch.allclose(w, torch.tensor([5 / 99, 5 / 9, 1.0, 1.0]), atol=1e-5)


def test_foreground_weighted_mse():
    target = torch.zeros(1, 3, 4, 4)
    target[..., :2, :2] = 0.9  # 4 of the 16 pixels belong to the shape
    off_shape, off_background = target.clone(), target.clone()
    off_shape[..., 0, 0] -= 0.5
    off_background[..., 3, 3] += 0.5
    loss = L.ForegroundWeightedMSE(5.0)
    assert float(loss(off_shape, target)) == pytest.approx(5 * float(loss(off_background, target)))
    assert float(L.ForegroundWeightedMSE(1.0)(off_shape, target)) == pytest.approx(float(((off_shape - target) ** 2).mean()))
