"""Frozen-feature evaluation and collapse diagnostics (cvcourse_utils.probing)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from cvcourse_utils.probing import (
    embedding_stats,
    extract_features,
    is_collapsed,
    knn_accuracy,
    knn_predict,
    linear_probe,
    train_linear_probe,
)


def _blobs(n_per_class=60, dim=8, classes=3, spread=0.6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 2
    y = np.repeat(np.arange(classes), n_per_class)
    return (centres[y] + spread * rng.normal(size=(len(y), dim))).astype(np.float32), y


def test_extract_features_is_frozen_batched_and_restores_the_mode():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1))
    x = torch.rand(10, 3, 8, 8)
    features = extract_features(encoder, x, batch_size=3)
    assert features.shape == (10, 4) and not features.requires_grad and encoder.training
    encoder.eval()
    with torch.no_grad():
        expected = encoder(x).flatten(1)
    assert torch.allclose(features, expected, atol=1e-6)   # eval mode: batch size does not matter
    with pytest.raises(ValueError):
        extract_features(encoder, torch.rand(3, 8, 8))


def test_linear_probe_separates_blobs_and_finds_nothing_in_random_labels():
    x, y = _blobs(seed=0)
    xt, yt = _blobs(seed=0)[0][::2] + 0.01, y[::2]
    assert linear_probe(x, y, xt, yt) > 0.95
    rng = np.random.default_rng(1)
    noise, labels = rng.normal(size=(300, 8)), rng.integers(0, 3, 300)
    assert linear_probe(noise[:200], labels[:200], noise[200:], labels[200:]) < 0.55


def test_linear_probe_matches_logistic_regression_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    train, test = slice(0, 1200), slice(1200, None)
    ours = linear_probe(x[train], y[train], x[test], y[test])
    scaler = StandardScaler().fit(x[train])
    sk = LogisticRegression(max_iter=2000).fit(scaler.transform(x[train]), y[train]).score(scaler.transform(x[test]), y[test])
    assert ours > 0.88 and abs(ours - sk) < 0.05


def test_probe_is_deterministic_and_returns_logits():
    x, y = _blobs()
    a, b = train_linear_probe(x, y, steps=20), train_linear_probe(x, y, steps=20)
    with torch.no_grad():
        assert torch.equal(a(torch.from_numpy(x)), b(torch.from_numpy(x)))
        assert a(torch.from_numpy(x)).shape == (len(x), 3)


def _brute_knn(train, labels, test, k, temperature, weighted, classes):
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    out = []
    for q in test:
        s = train @ (q / np.linalg.norm(q))
        nearest = np.argsort(-s, kind="stable")[:k]
        votes = np.zeros(classes)
        for i in nearest:
            votes[labels[i]] += math.exp(s[i] / temperature) if weighted else 1.0
        out.append(int(np.argmax(votes)))
    return np.array(out)


@pytest.mark.parametrize("weighted", [True, False])
def test_knn_matches_a_brute_force_vote(weighted):
    rng = np.random.default_rng(2)
    train, labels, test = rng.normal(size=(50, 5)), rng.integers(0, 4, 50), rng.normal(size=(17, 5))
    ours = knn_predict(train, labels, test, k=7, temperature=0.1, weighted=weighted, num_classes=4, batch_size=5)
    assert ours.dtype == torch.int64
    assert np.array_equal(ours.numpy(), _brute_knn(train, labels, test, 7, 0.1, weighted, 4))


def test_one_nearest_neighbour_of_the_train_set_is_itself():
    x, y = _blobs(spread=2.0)
    assert knn_accuracy(x, y, x, y, k=1) == 1.0
    with pytest.raises(ValueError, match="k must"):
        knn_accuracy(x, y, x, y, k=len(x) + 1)


def test_embedding_stats_of_healthy_line_and_collapsed_embeddings():
    rng = np.random.default_rng(3)
    healthy = rng.normal(size=(2000, 16))
    stats = embedding_stats(healthy)
    assert stats.std.shape == (16,) and stats.dim == 16
    assert 0.9 < stats.std_ratio <= 1.01 and stats.effective_rank > 15
    assert not is_collapsed(healthy)

    point = np.ones((100, 16)) + 1e-4 * rng.normal(size=(100, 16))   # every image at the same place
    assert embedding_stats(point).std_ratio < 0.01 and is_collapsed(point)
    assert embedding_stats(np.ones((5, 4))).effective_rank == 0.0

    direction = rng.normal(size=16)                                   # a line through the origin: two points
    line = np.sign(rng.normal(size=(200, 1))) * direction
    assert embedding_stats(line).effective_rank == pytest.approx(1.0, abs=1e-6) and is_collapsed(line)

    plane = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 16))      # dimensional collapse to rank 2
    assert 1.5 < embedding_stats(plane).effective_rank < 2.01
    assert is_collapsed(plane, min_effective_rank=4)


def test_bad_inputs_are_refused():
    x, y = _blobs()
    with pytest.raises(ValueError, match="labels"):
        linear_probe(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="NaN"):
        embedding_stats(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="N >= 2"):
        embedding_stats(np.ones((1, 4)))
    with pytest.raises(ValueError, match="test features"):
        knn_accuracy(x, y, x[:, :3], y)
