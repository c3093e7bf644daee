"""Small reference models the lectures, labs and benchmarks share.

One class per architecture, each documented with the shapes it maps between. They
are deliberately plain ``nn.Sequential`` stacks, so that a notebook can index into
them (``model.features[0]`` is the first convolution) and hook any layer.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["LeNet5", "SmallCNN"]


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
