"""What learnt features are worth (module 12): frozen features, a linear probe, k-NN, and collapse diagnostics.

The encoder stays frozen: features are extracted once, then a linear classifier (the *linear probe*) or a
nearest-neighbour vote on them is scored on held-out images. ``embedding_stats`` and ``is_collapsed`` say whether an
embedding has collapsed: every image mapped to (nearly) the same point, or onto a few directions only::

    train_z = extract_features(encoder, x_train)                  # (N, D) on the CPU
    acc = linear_probe(train_z, y_train, test_z, y_test)          # test accuracy in [0, 1]
    knn = knn_accuracy(train_z, y_train, test_z, y_test, k=20)    # DINO's weighted k-NN
    embedding_stats(test_z).effective_rank, is_collapsed(test_z)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EmbeddingStats", "embedding_stats", "extract_features", "is_collapsed", "knn_accuracy", "knn_predict",
           "linear_probe", "train_linear_probe"]


def _tensor(x, what: str, dtype=torch.float32) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if not torch.isfinite(t.float()).all():
        raise ValueError(f"{what} contains NaN or infinity")
    return t.to(dtype)


def _features_and_labels(features, labels, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    z, y = _tensor(features, f"{what} features"), _tensor(labels, f"{what} labels", torch.int64)
    if z.ndim != 2:
        raise ValueError(f"{what} features must be (N, D), got shape {tuple(z.shape)}")
    if y.shape != (len(z),):
        raise ValueError(f"{what} labels must be (N,) = ({len(z)},), got shape {tuple(y.shape)}")
    if len(z) == 0:
        raise ValueError(f"{what} features are empty")
    return z, y


@torch.no_grad()
def extract_features(encoder: nn.Module, images, batch_size: int = 256, *, device=None) -> torch.Tensor:
    """Frozen features: images (N, C, H, W) -> (N, D) float32 on the CPU (the encoder's output, flattened).

    The encoder runs in eval mode (BatchNorm uses its running statistics) on ``device`` (default: where its
    parameters are), without gradients; its training mode is restored afterwards.
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.ndim != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if device is None:
        device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
    was_training = encoder.training
    encoder.eval()
    try:
        out = [encoder(x[i:i + batch_size].to(device, torch.float32)).flatten(1).float().cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        encoder.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def train_linear_probe(features, labels, *, num_classes: int | None = None, steps: int = 300, lr: float = 0.05,
                       weight_decay: float = 1e-4, seed: int = 0) -> nn.Sequential:
    """A linear classifier on frozen features: standardise (train mean and std), then ``nn.Linear``.

    Trained full-batch with Adam on the cross-entropy for ``steps`` steps (deterministic given ``seed``).
    Returns ``nn.Sequential(standardise, linear)`` mapping features (N, D) to logits (N, num_classes).
    """
    z, y = _features_and_labels(features, labels, "train")
    num_classes = int(num_classes) if num_classes is not None else int(y.max()) + 1
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got {int(y.min())} to {int(y.max())}")
    mean, std = z.mean(0), z.std(0, unbiased=False).clamp_min(1e-6)
    scale = _Standardise(mean, std)
    gen = torch.Generator().manual_seed(int(seed))
    linear = nn.Linear(z.shape[1], num_classes)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=gen) * 0.01)
        linear.bias.zero_()
    optimiser = torch.optim.Adam(linear.parameters(), lr=lr, weight_decay=weight_decay)
    inputs = scale(z)
    for _ in range(int(steps)):
        loss = F.cross_entropy(linear(inputs), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return nn.Sequential(scale, linear).eval()


class _Standardise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std


def linear_probe(train_features, train_labels, test_features, test_labels, **options) -> float:
    """Test accuracy in [0, 1] of a linear probe trained on the train features (``options``: see
    :func:`train_linear_probe`)."""
    z_test, y_test = _features_and_labels(test_features, test_labels, "test")
    num_classes = options.pop("num_classes", None)
    if num_classes is None:
        num_classes = int(max(int(torch.as_tensor(np.asarray(train_labels)).max()), int(y_test.max()))) + 1
    probe = train_linear_probe(train_features, train_labels, num_classes=num_classes, **options)
    if z_test.shape[1] != probe[1].in_features:
        raise ValueError(f"train features have {probe[1].in_features} dimensions, test features {z_test.shape[1]}")
    with torch.no_grad():
        return float((probe(z_test).argmax(1) == y_test).float().mean())


def knn_predict(train_features, train_labels, test_features, *, k: int = 20, temperature: float = 0.07,
                weighted: bool = True, num_classes: int | None = None, batch_size: int = 1024) -> torch.Tensor:
    """Cosine k-NN: test features (M, D) -> predicted labels (M,) int64.

    The k most similar train features (cosine similarity s) vote for their labels; with ``weighted`` each vote
    counts exp(s / temperature), as in DINO (Caron et al., 2021), otherwise 1 (a majority vote; a tie goes to the
    smaller label).
    """
    z, y = _features_and_labels(train_features, train_labels, "train")
    q = _tensor(test_features, "test features")
    if q.ndim != 2 or q.shape[1] != z.shape[1]:
        raise ValueError(f"test features must be (M, {z.shape[1]}), got shape {tuple(q.shape)}")
    if not 1 <= k <= len(z):
        raise ValueError(f"k must lie in [1, {len(z)}] (the number of train features), got {k}")
    if weighted and temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    num_classes = int(num_classes) if num_classes is not None else int(y.max()) + 1
    z = F.normalize(z, dim=1)
    predictions = []
    for start in range(0, len(q), batch_size):
        sims, idx = (F.normalize(q[start:start + batch_size], dim=1) @ z.T).topk(k, dim=1)
        weights = (sims / temperature).exp() if weighted else torch.ones_like(sims)
        votes = torch.zeros(len(sims), num_classes).scatter_add_(1, y[idx], weights)
        predictions.append(votes.argmax(1))
    return torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.int64)


def knn_accuracy(train_features, train_labels, test_features, test_labels, **options) -> float:
    """Test accuracy in [0, 1] of the cosine k-NN classifier (``options``: see :func:`knn_predict`)."""
    _, y_test = _features_and_labels(test_features, test_labels, "test")
    return float((knn_predict(train_features, train_labels, test_features, **options) == y_test).float().mean())


@dataclass(frozen=True)
class EmbeddingStats:
    """Spread of an embedding z (N, D), measured after L2-normalising each row.

    ``std``: (D,) per-dimension standard deviation; ``std_ratio``: their mean times sqrt(D) (about 1 when the rows
    spread evenly over the sphere, 0 when they all coincide); ``effective_rank``: exp of the entropy of the
    centred embedding's normalised singular values (Roy & Vetterli, 2007), between 1 (one direction) and D (all
    directions equally used), 0 when every row is the same.
    """

    std: torch.Tensor
    std_ratio: float
    effective_rank: float
    dim: int

    @property
    def mean_std(self) -> float:
        return float(self.std.mean())


def embedding_stats(z) -> EmbeddingStats:
    """z: (N, D) with N >= 2 -> :class:`EmbeddingStats` (per-dimension std, std ratio, effective rank)."""
    z = _tensor(z, "the embedding", torch.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"the embedding must be (N, D) with N >= 2, got shape {tuple(z.shape)}")
    z = F.normalize(z, dim=1)
    std = z.std(0, unbiased=False)
    singular = torch.linalg.svdvals(z - z.mean(0))
    total = float(singular.sum())
    if total <= 1e-12 * len(z):
        rank = 0.0
    else:
        p = singular / total
        p = p[p > 0]
        rank = math.exp(float(-(p * p.log()).sum()))
    dim = z.shape[1]
    return EmbeddingStats(std=std.float(), std_ratio=float(std.mean()) * math.sqrt(dim), effective_rank=rank, dim=dim)


def is_collapsed(z, *, min_std_ratio: float = 0.03, min_effective_rank: float = 2.0) -> bool:
    """True when the embedding z (N, D) has collapsed: its std ratio is below ``min_std_ratio`` (every row near
    the same point) or its effective rank below ``min_effective_rank`` (the rows on a line).

    The default 0.03 leaves room for features after a ReLU, which share one orthant: a randomly initialised
    SmallCNN's pooled features on the shapes measure about 0.08, a collapsed run a few thousandths.
    """
    stats = embedding_stats(z)
    return stats.std_ratio < min_std_ratio or stats.effective_rank < min_effective_rank
