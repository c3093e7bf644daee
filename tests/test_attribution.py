"""cvcourse_utils.attribution: every method's shape and convention against plain autograd, and the heat-map plot."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cvcourse_utils.attribution import METHODS, attribution_map, normalise_maps, show_heatmaps
from cvcourse_utils.models import SmallCNN


@pytest.fixture
def net():
    torch.manual_seed(0)
    return SmallCNN(3, 5, batchnorm=False, width=4).eval()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 16, 16, generator=g), torch.tensor([0, 2, 4])


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_one_finite_map_per_image(net, batch, method):
    x, t = batch
    maps = attribution_map(method, net, x, t, window=4, stride=2, samples=4, steps=8)
    assert maps.shape == (3, 16, 16) and torch.isfinite(maps).all()
    assert not maps.requires_grad
    assert all(p.grad is None for p in net.parameters())  # the weights are left alone


def test_saliency_is_the_largest_absolute_input_gradient_over_channels(net, batch):
    x, t = batch
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xg).gather(1, t[:, None]).sum(), xg)
    assert torch.allclose(attribution_map("saliency", net, x, t), grad.abs().amax(1), atol=1e-7)


def test_occlusion_with_one_window_covering_everything_is_the_score_drop(net, batch):
    x, t = batch
    maps = attribution_map("occlusion", net, x, t, window=16, stride=16, baseline=0.0)
    with torch.no_grad():
        drop = net(x).gather(1, t[:, None])[:, 0] - net(torch.zeros_like(x)).gather(1, t[:, None])[:, 0]
    assert torch.allclose(maps, drop[:, None, None].expand(-1, 16, 16), atol=1e-6)


def test_grad_cam_is_relu_of_gradient_weighted_maps_upsampled(net, batch):
    x, t = batch
    layer = net.features[1]
    stored = {}
    hook = layer.register_forward_hook(lambda m, i, o: stored.update(a=o))
    score = net(x).gather(1, t[:, None]).sum()
    hook.remove()
    (grad,) = torch.autograd.grad(score, stored["a"])
    cam = F.relu((grad.mean((2, 3), keepdim=True) * stored["a"]).sum(1, keepdim=True))
    want = F.interpolate(cam, size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    got = attribution_map("grad_cam", net, x, t, layer=layer)
    assert torch.allclose(got, want.detach(), atol=1e-6) and (got >= 0).all()


def test_one_target_for_the_whole_batch_and_unknown_methods(net, batch):
    x, _ = batch
    assert torch.equal(attribution_map("saliency", net, x, 3), attribution_map("saliency", net, x, torch.tensor([3, 3, 3])))
    with pytest.raises(ValueError, match="unknown method"):
        attribution_map("lime", net, x, 0)


def test_normalise_maps_scales_each_map_and_keeps_flat_maps_at_zero():
    maps = np.stack([np.arange(4.0).reshape(2, 2), np.full((2, 2), 7.0)])
    out = normalise_maps(torch.from_numpy(maps))
    assert out[0].min() == 0 and out[0].max() == 1 and np.all(out[1] == 0)


def test_show_heatmaps_draws_image_and_overlay_rows_with_titles(batch):
    x, _ = batch
    fig = show_heatmaps(x, torch.rand(3, 16, 16), titles=["a", "b", "c"], title="maps")
    assert fig._suptitle.get_text() == "maps"
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "a"
    with pytest.raises(ValueError, match="3 images but 2 maps"):
        show_heatmaps(x, torch.rand(2, 16, 16))
    matplotlib.pyplot.close("all")
