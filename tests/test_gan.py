"""The course's GAN models and loop (cvcourse_utils.gan): shapes, ranges, conditioning, losses, one step, sampling."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvcourse_utils.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    d_loss_bce,
    from_unit,
    g_loss_nonsaturating,
    gan_step,
    interpolate_latents,
    sample_gan,
    to_unit,
    train_gan_models,
)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_generator_and_discriminator_shapes(num_classes):
    torch.manual_seed(0)
    g, d = DCGANGenerator(16, 8, num_classes=num_classes), DCGANDiscriminator(8, num_classes=num_classes)
    z, y = torch.randn(5, 16), torch.arange(5)
    args = () if num_classes == 0 else (y,)
    x = g(z, *args)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert d(x, *args).shape == (5,)


def test_conditional_models_need_labels_and_use_them():
    torch.manual_seed(0)
    g, d = DCGANGenerator(8, 8, num_classes=3).eval(), DCGANDiscriminator(8, num_classes=3)
    with pytest.raises(ValueError):
        g(torch.randn(2, 8))
    with pytest.raises(ValueError):
        d(torch.zeros(2, 1, 28, 28))
    z = torch.randn(1, 8).repeat(3, 1)
    images = g(z, torch.arange(3))
    assert (images[0] - images[1]).abs().max() > 1e-4
    assert (d(images, torch.arange(3)) - d(images, torch.zeros(3, dtype=torch.long))).abs().max() > 0


def test_unconditional_generator_parameter_count():
    assert sum(p.numel() for p in DCGANGenerator(32, 32).parameters()) == 100_352 + 128 + 32_768 + 64 + 513 == 133_825  # project, BN, up 1, BN, up 2


def test_spectral_norm_bounds_the_layers():
    torch.manual_seed(0)
    d = DCGANDiscriminator(8, spectral_norm=True)
    for _ in range(3):
        d(torch.randn(4, 1, 28, 28))  # power iterations run in training mode
    weight = d.head.weight
    assert torch.linalg.matrix_norm(weight, ord=2) <= 1.05


def test_losses_match_binary_cross_entropy():
    real, fake = torch.randn(6), torch.randn(4)
    expected = F.binary_cross_entropy(torch.sigmoid(real), torch.ones(6)) + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros(4))
    assert torch.allclose(d_loss_bce(real, fake), expected, atol=1e-6)
    assert torch.allclose(g_loss_nonsaturating(fake), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-6)


def test_unit_range_maps_are_inverse():
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(to_unit(from_unit(x)), x, atol=1e-6)


def test_one_step_moves_both_networks_and_only_d_learns_when_g_is_frozen():
    torch.manual_seed(0)
    g, d = DCGANGenerator(8, 8), DCGANDiscriminator(8)
    g_opt, d_opt = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    before_g = [p.detach().clone() for p in g.parameters()]
    real, z = torch.rand(16, 1, 28, 28) * 2 - 1, torch.randn(16, 8)
    d_loss, g_loss = gan_step(g, d, g_opt, d_opt, real, z)
    assert isinstance(d_loss, float) and isinstance(g_loss, float)
    assert any(not torch.equal(a, b) for a, b in zip(before_g, g.parameters()))
    g_opt.param_groups[0]["lr"] = 0.0
    losses = [gan_step(g, d, g_opt, d_opt, real, z)[0] for _ in range(20)]
    assert losses[-1] < 0.7 * losses[0]


def test_training_loop_keeps_snapshots_and_sample_gan_is_in_unit_range():
    from cvcourse_utils.datasets import load_dataset

    x, y = load_dataset("digits", "train", n=100, image_size=28, as_numpy=True)
    torch.manual_seed(0)
    g, d = DCGANGenerator(8, 8, num_classes=10), DCGANDiscriminator(8, num_classes=10)
    history = train_gan_models(g, d, torch.from_numpy(x), torch.from_numpy(y), steps=6, batch_size=16,
                               snapshot_every=3, device="cpu", progress=False)
    assert len(history["d_loss"]) == len(history["g_loss"]) == 6
    assert [step for step, _ in history["snapshots"]] == [1, 3, 6]
    assert history["snapshots"][-1][1].shape == (16, 1, 28, 28)
    samples = sample_gan(g, 30, labels=7)
    assert samples.shape == (30, 1, 28, 28) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1
    assert np.array_equal(samples, sample_gan(g, 30, labels=7))  # same seed, same samples


def test_interpolation_ends_at_both_latents():
    z0, z1 = torch.randn(8), torch.randn(8)
    for spherical in (True, False):
        path = interpolate_latents(z0, z1, steps=5, spherical=spherical)
        assert path.shape == (5, 8)
        assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    slerp = interpolate_latents(z0, z1, steps=5)
    # slerp keeps the norm between the two end norms (a straight line shrinks it in the middle)
    assert slerp.norm(dim=1).min() >= min(z0.norm(), z1.norm()) - 1e-4


def test_ema_generator_trains_the_live_weights_and_samples_with_the_average():
    from cvcourse_utils.gan import EMAGenerator

    torch.manual_seed(0)
    live = DCGANGenerator(8, 4)
    ema = EMAGenerator(live, decay=0.5)
    assert ema.latent_dim == 8
    assert [id(p) for p in ema.parameters()] == [id(p) for p in live.parameters()]  # optimisers see the live weights
    start = [p.detach().clone() for p in live.parameters()]
    opt = torch.optim.SGD(ema.parameters(), lr=0.1)
    z = torch.randn(4, 8)
    for _ in range(2):
        ema.train()
        loss = ema(z).square().mean()
        opt.zero_grad(); loss.backward(); opt.step()
    ema.train()(z)  # folds the latest weights in
    # three training-mode calls folded in the weights before, between and after the two steps
    for a, p, s in zip(ema.average.parameters(), live.parameters(), start):
        assert not torch.allclose(a, p) and not torch.allclose(a, s)
    ema.eval()
    assert torch.equal(ema(z), ema.average(z))
    assert not torch.equal(ema(z), live.eval()(z))
    assert ema.num_updates == 3  # warm-up: the first updates use b = 0.1, 0.18, 0.25, then min(decay, ...)
    images = sample_gan(ema, 3)
    assert images.shape == (3, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
