"""Splitting a labelled set into train, validation and test parts."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _counts(n: int, fractions: np.ndarray, carry: np.ndarray) -> np.ndarray:
    """Split ``n`` items by ``fractions``: each part gets floor or ceil of ``n * fraction``.

    The leftover items go to the parts with the largest remainder plus ``carry`` (what the
    parts have been short of so far), so over many classes the totals stay on target too.
    """
    exact = n * fractions
    counts = np.floor(exact).astype(np.int64)
    left = n - int(counts.sum())
    if left:
        score = np.where(exact > counts, exact - counts + carry, -np.inf)
        counts[np.argsort(-score, kind="stable")[:left]] += 1
    carry += exact - counts
    return counts


def train_val_test_split(
    labels: Sequence[int] | np.ndarray,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of a random train/val/test split of ``len(labels)`` items.

    The three index arrays are disjoint and together cover ``0..N-1``. With ``stratify``,
    every class is split on its own, so each part holds each class's share within one item
    (``|count - n_class * fraction| < 1``). Fractions are >= 0 and sum to 1.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}")
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or (fractions < 0).any() or not math.isclose(fractions.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must be three numbers >= 0 that sum to 1, got {tuple(fractions)}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(labels))]
    parts: list[list[np.ndarray]] = [[], [], []]
    carry = np.zeros(3)
    for group in groups:
        group = rng.permutation(group)
        bounds = np.concatenate([[0], np.cumsum(_counts(len(group), fractions, carry))])
        for part, lo, hi in zip(parts, bounds[:-1], bounds[1:]):
            part.append(group[lo:hi])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts)


def stratified_subset(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Exactly ``n`` indices drawn at random with each class's share kept (within one item), sorted."""
    labels = np.asarray(labels)
    if not 0 <= n <= len(labels):
        raise ValueError(f"n must lie in 0..{len(labels)} (the size of this split), got {n}")
    classes, sizes = np.unique(labels, return_counts=True)
    quota = n * sizes / len(labels)
    take = np.floor(quota).astype(np.int64)
    take[np.argsort(-(quota - take), kind="stable")[: n - int(take.sum())]] += 1  # largest remainders
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, np.int64)
