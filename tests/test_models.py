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


@pytest.mark.parametrize("make", [lambda: LeNet5(1, 2), lambda: SmallCNN(1, 2, width=8)], ids=["lenet5", "small_cnn"])
def test_models_fit_a_tiny_problem(make):
    """Bright-left vs bright-right images: a few Adam steps must fit them (weights and data seeded)."""
    torch.manual_seed(0)
    model = make()  # built here, after the seed: built at collection its weights depended on the test order
    x = torch.rand(32, 1, 32, 32) * 0.2
    y = torch.arange(32) % 2
    x[y == 0, :, :, :16] += 0.8
    x[y == 1, :, :, 16:] += 0.8
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() == 1.0


# ---- the residual network family (module 05) ---------------------------------------------------

from cvcourse_utils.models import BasicBlock, CifarResNet, PlainBlock, cifar_resnet  # noqa: E402


@pytest.mark.parametrize("in_channels, out_channels, stride, shortcut", [
    (16, 16, 1, False), (16, 32, 2, True), (8, 24, 1, True), (16, 16, 2, True),
])
def test_basic_block_matches_torchvision(in_channels, out_channels, stride, shortcut):
    from torchvision.models.resnet import BasicBlock as TorchvisionBlock

    block = BasicBlock(in_channels, out_channels, stride)
    assert (block.downsample is not None) == shortcut
    downsample = None
    if shortcut:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out_channels))
    reference = TorchvisionBlock(in_channels, out_channels, stride, downsample=downsample)
    reference.load_state_dict(block.state_dict())  # same names, same shapes
    x = torch.randn(2, in_channels, 9, 9)
    assert torch.allclose(block(x), reference(x), atol=1e-6)
    assert block(x).shape == (2, out_channels, -(-9 // stride), -(-9 // stride))


def test_plain_block_is_a_basic_block_without_its_shortcut():
    plain, residual = PlainBlock(8, 16, 2), BasicBlock(8, 16, 2)
    assert plain.downsample is None
    assert n_params(residual) - n_params(plain) == 8 * 16 + 2 * 16  # the 1x1 projection and its BatchNorm
    assert plain(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)


def test_cifar_resnet_shapes_and_features_head_split():
    model = CifarResNet(3, 5, blocks=(2, 2, 2), width=16).eval()
    x = torch.randn(3, 3, 32, 32)
    maps = model.features(x)
    assert model.feature_channels == 64 and maps.shape == (3, 64, 8, 8)
    assert torch.equal(model.head(maps), model(x)) and model(x).shape == (3, 5)
    assert len(model.features) == 4  # stem and three stages
    assert model.features[:2](x).shape == (3, 16, 32, 32) and model.features[:3](x).shape == (3, 32, 16, 16)
    assert model(torch.randn(1, 3, 20, 28)).shape == (1, 5)  # any size: global average pooling


def test_cifar_resnet_parameter_counts():
    # default: stem 432 + 32, stage 1 4 x (2304 + 32), stage 2 (4608 + 9216 + 128 + 512 + 64) + (2 x 9216 + 128),
    # stage 3 (18432 + 36864 + 256 + 2048 + 256) + (2 x 36864 + 256), head 64 * 10 + 10
    assert n_params(CifarResNet()) == 175_258
    assert n_params(CifarResNet(3, 5)) == 175_258 - 5 * 65
    conv_weights = sum(m.weight.numel() for m in CifarResNet().modules() if isinstance(m, nn.Conv2d))
    assert conv_weights == 432 + 4 * 2304 + (4608 + 3 * 9216 + 512) + (18432 + 3 * 36864 + 2048)
    assert n_params(CifarResNet(block=PlainBlock)) == 175_258 - (512 + 64) - (2048 + 128)


@pytest.mark.parametrize("depth", [8, 14, 20, 32])
def test_cifar_resnet_depth(depth):
    for residual in (True, False):
        model = cifar_resnet(depth, num_classes=4, width=4, residual=residual)
        weighted = [m for m in model.modules()
                    if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))]
        assert len(weighted) == depth  # 3x3 convolutions and the linear layer; 1x1 projections do not count
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(ValueError):
        cifar_resnet(10)
    with pytest.raises(ValueError):
        CifarResNet(blocks=(2, 0, 2))


def test_cifar_resnet_learns_a_tiny_problem():
    torch.manual_seed(0)
    model = CifarResNet(3, 2, blocks=(1, 1, 1), width=4)
    x = torch.randn(16, 3, 16, 16)
    y = (x[:, 0].mean(dim=(1, 2)) > 0).long()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
