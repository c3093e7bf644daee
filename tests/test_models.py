"""The shared reference models: shapes, parameter counts, optional layers, and that they can learn."""
import pytest
import torch
from torch import nn

from cvcourse_utils.models import LeNet5, SmallCNN


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("image_size", [32, 28])
def test_lenet5_maps_images_to_logits(image_size):
    model = LeNet5(in_channels=1, num_classes=10, image_size=image_size)
    out = model(torch.randn(3, 1, image_size, image_size))
    assert out.shape == (3, 10)
    assert model.features(torch.randn(2, 1, image_size, image_size)).shape == (2, 120, 1, 1)


def test_lenet5_has_the_published_parameter_count():
    # C1 156, C3 2,416, C5 48,120, F6 10,164, linear output 850 (the 1998 paper's sparse C3 table has 1,516).
    assert n_params(LeNet5(1, 10)) == 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert n_params(LeNet5(3, 5)) == 61706 + 2 * 6 * 25 - 5 * 85


def test_lenet5_rejects_sizes_it_cannot_pad_to_32():
    with pytest.raises(ValueError):
        LeNet5(image_size=29)
    with pytest.raises(ValueError):
        LeNet5(image_size=64)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_small_cnn_shapes(size):
    model = SmallCNN(in_channels=3, num_classes=7, width=8)
    assert model(torch.randn(2, 3, size, size)).shape == (2, 7)
    assert model.features(torch.randn(2, 3, size, size)).shape == (2, 32, size // 8, size // 8)


def test_small_cnn_options_add_and_remove_layers():
    with_bn = SmallCNN(1, 3, batchnorm=True, width=8)
    without = SmallCNN(1, 3, batchnorm=False, dropout=0.3, width=8)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules()) == 6
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())
    assert not any(isinstance(m, nn.Dropout) for m in with_bn.modules())
    assert [m.p for m in without.modules() if isinstance(m, nn.Dropout)] == [0.3]
    # convolutions before BatchNorm carry no bias; without BatchNorm they do
    assert all(m.bias is None for m in with_bn.modules() if isinstance(m, nn.Conv2d))
    assert all(m.bias is not None for m in without.modules() if isinstance(m, nn.Conv2d))
    assert isinstance(with_bn.features[0][0], nn.Conv2d) and with_bn.features[0][0].in_channels == 1
    with pytest.raises(ValueError):
        SmallCNN(dropout=1.0)


def test_small_cnn_eval_is_deterministic_and_train_mode_with_dropout_is_not():
    torch.manual_seed(0)
    model = SmallCNN(3, 4, dropout=0.5, width=8)
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize("model", [LeNet5(1, 2), SmallCNN(1, 2, width=8)], ids=["lenet5", "small_cnn"])
def test_models_fit_a_tiny_problem(model):
    """Bright-left vs bright-right images: a few Adam steps must fit them."""
    torch.manual_seed(0)
    x = torch.rand(32, 1, 32, 32) * 0.2
    y = torch.arange(32) % 2
    x[y == 0, :, :, :16] += 0.8
    x[y == 1, :, :, 16:] += 0.8
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() == 1.0
