"""Small reference models the lectures, labs and benchmarks share.

One class per architecture, each documented with the shapes it maps between. They
are deliberately plain ``nn.Sequential`` stacks, so that a notebook can index into
them (``model.features[0]`` is the first convolution) and hook any layer.

Every model splits into ``features`` (images to feature maps) and ``head`` (feature maps to
logits; LeNet5 calls it ``classifier``), so a backbone can be reused with a new head:
``CifarResNet`` (module 05) is the course's backbone for transfer, segmentation and detection.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "CifarResNet", "LeNet5", "PlainBlock", "SmallCNN", "cifar_resnet"]


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) with its original tanh units and average-pooling subsampling.

    The network is defined for 32x32 inputs; smaller square images are zero-padded to
    32x32 by the first convolution (``image_size=28`` gives the usual ``padding=2``)::

        x:  (N, in_channels, S, S)
        C1  Conv2d(in_channels, 6, 5, padding=(32 - S) // 2) + tanh   -> (N, 6, 28, 28)
        S2  AvgPool2d(2)                                              -> (N, 6, 14, 14)
        C3  Conv2d(6, 16, 5) + tanh                                   -> (N, 16, 10, 10)
        S4  AvgPool2d(2)                                              -> (N, 16, 5, 5)
        C5  Conv2d(16, 120, 5) + tanh (a 5x5 kernel on a 5x5 map)     -> (N, 120, 1, 1)
        F6  Flatten, Linear(120, 84) + tanh                           -> (N, 84)
        out Linear(84, num_classes)                                   -> (N, num_classes) logits

    With one input channel and ten classes it has 61,706 parameters. (The 1998 paper connects C3 to
    subsets of S2's maps, 1,516 parameters instead of 2,416, and uses an RBF output layer; this version
    uses full connections and a linear output, as is usual today.)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        if image_size > 32 or (32 - image_size) % 2:
            raise ValueError(f"LeNet5 takes square images of size 32, 30, 28, ...; got image_size={image_size}")
        pad = (32 - image_size) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=pad), nn.Tanh(),  # C1
            nn.AvgPool2d(2),                                                 # S2
            nn.Conv2d(6, 16, kernel_size=5), nn.Tanh(),                      # C3
            nn.AvgPool2d(2),                                                 # S4
            nn.Conv2d(16, 120, kernel_size=5), nn.Tanh(),                    # C5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(120, 84), nn.Tanh(),                                   # F6
            nn.Linear(84, num_classes),                                      # output
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, S, S) -> logits (N, num_classes)."""
        return self.classifier(self.features(x))


def _conv_block(in_channels: int, out_channels: int, batchnorm: bool) -> nn.Sequential:
    """Two 3x3 convolutions (each with optional BatchNorm, then ReLU) and a 2x2 max-pool.

    (N, in_channels, H, W) -> (N, out_channels, H // 2, W // 2)
    """
    layers: list[nn.Module] = []
    for c_in in (in_channels, out_channels):
        # A convolution followed by BatchNorm needs no bias: BatchNorm subtracts it again.
        layers.append(nn.Conv2d(c_in, out_channels, kernel_size=3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """A small VGG-style CNN: three conv blocks, global average pooling and a linear head.

    Widths grow as ``width, 2 * width, 4 * width`` while the resolution halves::

        x:       (N, in_channels, H, W)            any H, W >= 8 (28x28, 32x32, 64x64, ...)
        block 1  [conv3x3 -> BN -> ReLU] x 2, max-pool  -> (N, width,     H/2, W/2)
        block 2  [conv3x3 -> BN -> ReLU] x 2, max-pool  -> (N, 2 * width, H/4, W/4)
        block 3  [conv3x3 -> BN -> ReLU] x 2, max-pool  -> (N, 4 * width, H/8, W/8)
        head     global average pool, Flatten, Dropout(dropout), Linear -> (N, num_classes) logits

    ``batchnorm=False`` drops the BatchNorm layers (the convolutions then get biases);
    ``dropout`` is the drop probability before the linear layer (0 means no Dropout layer).
    ``model.features[0][0]`` is the first convolution (for showing its filters).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, batchnorm: bool = True,
                 dropout: float = 0.0, width: int = 32) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.features = nn.Sequential(
            _conv_block(in_channels, width, batchnorm),
            _conv_block(width, 2 * width, batchnorm),
            _conv_block(2 * width, 4 * width, batchnorm),
        )
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(4 * width, num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> logits (N, num_classes)."""
        return self.head(self.features(x))


# --------------------------------------------------------------------------- residual networks (module 05)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """The projection shortcut, 1x1 conv (stride) + BN, when the shape changes; None for the identity."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """The residual basic block of He et al. (2016): two 3x3 convolutions and a shortcut.

    ::

        x:    (N, in_channels, H, W)
        out = ReLU( BN(conv3x3(ReLU(BN(conv3x3_stride(x))))) + shortcut(x) )   -> (N, out_channels, H/s, W/s)

    ``shortcut`` is the identity when ``stride == 1`` and the channels stay the same, else a
    projection (1x1 convolution with the stride, then BatchNorm). The layers carry torchvision's
    names (``conv1 bn1 conv2 bn2 downsample``), so ``torchvision.models.resnet.BasicBlock`` with the
    same settings has the same parameters and, with the weights copied, the same outputs.
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class PlainBlock(BasicBlock):
    """A ``BasicBlock`` without its shortcut: ``ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))))``.

    Same layers and parameters as ``BasicBlock`` minus the projection, so a network of plain blocks
    has the depth of its residual twin: the pair shows the degradation problem (module 05).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, stride)
        self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))."""
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class CifarResNet(nn.Module):
    """A CIFAR-style ResNet (He et al., 2016, section 4.2): a 3x3 stem and three stages of blocks.

    Widths ``width, 2 width, 4 width``; each later stage halves the resolution with a stride-2 first block::

        x:        (N, in_channels, H, W)                         any H, W >= 4 (32x32 in the course)
        stem      conv3x3(in_channels, width) -> BN -> ReLU      -> (N, width,     H,   W)
        stage 1   blocks[0] blocks, stride 1                     -> (N, width,     H,   W)
        stage 2   blocks[1] blocks, first with stride 2          -> (N, 2 width,   H/2, W/2)
        stage 3   blocks[2] blocks, first with stride 2          -> (N, 4 width,   H/4, W/4)
        head      global average pool, Flatten, Linear           -> (N, num_classes) logits

    ``features`` is ``nn.Sequential(stem, stage1, stage2, stage3)`` (index it for the maps of one
    stage, e.g. ``features[:3]`` for stride 2), ``head`` the rest; ``feature_channels`` is ``4 width``.
    ``block``: ``BasicBlock`` (residual), ``PlainBlock`` (no shortcuts) or any ``nn.Module`` class
    called as ``block(in_channels, out_channels, stride)``. Depth (weighted layers) is
    ``2 * sum(blocks) + 2``: ``blocks=(3, 3, 3)`` is ResNet-20; ``cifar_resnet(depth)`` builds that way.
    With the defaults (``blocks=(2, 2, 2)``, ``width=16``, 10 classes) it has 175,258 parameters.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, blocks: tuple[int, ...] = (2, 2, 2),
                 width: int = 16, block: type[nn.Module] = BasicBlock) -> None:
        super().__init__()
        if len(blocks) < 1 or min(blocks) < 1 or width < 1:
            raise ValueError(f"need at least one stage, one block per stage and width >= 1; got blocks={blocks}, width={width}")
        stem = nn.Sequential(nn.Conv2d(in_channels, width, kernel_size=3, padding=1, bias=False),
                             nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages: list[nn.Module] = [stem]
        channels = width
        for i, count in enumerate(blocks):
            out_channels = width * 2**i
            layers = [block(channels, out_channels, 1 if i == 0 else 2)]
            layers += [block(out_channels, out_channels, 1) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            channels = out_channels
        self.features = nn.Sequential(*stages)
        self.feature_channels = channels
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
        for m in self.modules():  # He initialisation, as torchvision's ResNets
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> logits (N, num_classes)."""
        return self.head(self.features(x))


def cifar_resnet(depth: int = 14, *, in_channels: int = 3, num_classes: int = 10, width: int = 16,
                 residual: bool = True) -> CifarResNet:
    """The CIFAR ResNet of ``depth = 6 n + 2`` weighted layers (8, 14, 20, 32, 44, 56, 110): n blocks per stage.

    residual=False builds the plain network of the same depth (``PlainBlock``), e.g. for the degradation problem.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6 n + 2 (8, 14, 20, 32, ...), got {depth}")
    n = (depth - 2) // 6
    return CifarResNet(in_channels, num_classes, blocks=(n, n, n), width=width,
                       block=BasicBlock if residual else PlainBlock)
