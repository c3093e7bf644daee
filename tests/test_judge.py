"""The digits judge and the sample-quality measures (modules 10 and 11): accuracy, rates, coverage, FID, export."""
import warnings

import numpy as np
import pytest
import torch

from cvcourse_utils.datasets import load_dataset
from cvcourse_utils.judge import (
    DigitsJudge,
    class_coverage,
    export_samples,
    judge_fid,
    judge_probabilities,
    load_judge,
    load_samples,
    recognisable_rate,
    score_samples,
)

JUDGE_ACCURACY_BAR = 0.95  # fast mode trains 8 epochs and reaches about 0.98; full mode about 0.997


@pytest.fixture(scope="module")
def judge() -> DigitsJudge:
    return load_judge("digits", device="cpu")


@pytest.fixture(scope="module")
def test_digits():
    return load_dataset("digits", "test", image_size=28, as_numpy=True)


def test_judge_is_accurate_on_real_test_digits(judge, test_digits):
    x, y = test_digits
    assert not judge.training
    assert float(judge.test_accuracy) >= JUDGE_ACCURACY_BAR  # recorded when it was trained
    predicted = judge_probabilities(x, judge).argmax(axis=1)
    assert np.mean(predicted == y) == pytest.approx(float(judge.test_accuracy), abs=1e-6)


def test_judge_is_cached_and_has_no_gradients(judge):
    assert load_judge("digits", device="cpu") is judge
    assert not any(p.requires_grad for p in judge.parameters())
    assert judge.extractor(torch.rand(3, 1, 28, 28)).shape == (3, judge.extractor.num_features)


def test_probabilities_are_distributions(judge):
    p = judge_probabilities(np.random.default_rng(0).random((7, 1, 28, 28), dtype=np.float32), judge)
    assert p.shape == (7, 10) and p.dtype == np.float32
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_recognisable_rate_is_high_on_real_digits_and_low_on_noise(judge, test_digits):
    x, y = test_digits
    assert recognisable_rate(x, y, judge) >= 0.9
    assert recognisable_rate(x, (y + 1) % 10, judge) <= 0.05  # the wrong class asked for
    noise = np.random.default_rng(1).random((200, 1, 28, 28), dtype=np.float32)
    assert recognisable_rate(noise, np.arange(200) % 10, judge) <= 0.1
    assert recognisable_rate(np.zeros((50, 1, 28, 28), np.float32), np.arange(50) % 10, judge) <= 0.2
    # -1: no class asked for, so any confident class counts
    assert recognisable_rate(x, np.full(len(x), -1), judge) >= recognisable_rate(x, y, judge)


def test_recognisable_rate_rejects_mismatched_inputs(judge, test_digits):
    x, y = test_digits
    with pytest.raises(ValueError):
        recognisable_rate(x, y[:-1], judge)
    with pytest.raises(ValueError):
        recognisable_rate(x[:, :, :14], y, judge)


def test_class_coverage_counts_predicted_classes(judge, test_digits):
    x, y = test_digits
    coverage = class_coverage(x, judge)
    assert coverage.dtype == np.int64 and coverage.shape == (10,) and coverage.sum() == len(x)
    assert np.abs(coverage - np.bincount(y, minlength=10)).max() <= 5
    sevens = x[y == 7]
    single = class_coverage(sevens, judge)
    assert single[7] >= 0.9 * len(sevens) and single.sum() == len(sevens)


def test_fid_is_zero_for_identical_sets_and_grows_with_a_shift(judge, test_digits):
    x, _ = test_digits
    train_x, _ = load_dataset("digits", "train", image_size=28, as_numpy=True)
    same = judge_fid(x, x, judge)
    baseline = judge_fid(train_x, x, judge)
    shifted = judge_fid(x, np.roll(x, 3, axis=3), judge)
    noise = judge_fid(x, np.random.default_rng(2).random(x.shape, dtype=np.float32), judge)
    assert abs(same) < 1e-3
    assert 0 < baseline < shifted < noise
    assert judge_fid(x, x[::-1].copy(), judge) == pytest.approx(same, abs=1e-3)  # order does not matter


def test_fid_matches_the_formula_on_judge_features(judge, test_digits):
    from scipy import linalg

    x, _ = test_digits
    a, b = x[:180], np.roll(x[180:], 2, axis=2)
    with torch.no_grad():
        fa, fb = (judge.extractor(torch.from_numpy(v)).double().numpy() for v in (a, b))
    ca, cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    # 180 samples of ReLU features: the covariances are rank-deficient, which the formula allows.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(ca @ cb).real
    expected = np.sum((fa.mean(0) - fb.mean(0)) ** 2) + np.trace(ca + cb - 2 * root)
    assert judge_fid(a, b, judge) == pytest.approx(expected, rel=1e-3, abs=1e-2)


def test_score_samples_collects_every_measure(judge, test_digits):
    x, y = test_digits
    scores = score_samples(x[:100], y[:100], x[100:], judge)
    assert set(scores) == {"recognisable_rate", "coverage", "max_class_fraction", "classes_covered", "fid"}
    assert sum(scores["coverage"]) == 100 and scores["classes_covered"] == 10
    assert scores["recognisable_rate"] >= 0.9 and scores["fid"] > 0


def test_samples_round_trip_through_npz(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.random((20, 1, 28, 28)).astype(np.float32)
    labels = np.concatenate([np.arange(10), np.full(10, -1)])
    path = export_samples(tmp_path / "out" / "cgan.npz", torch.from_numpy(images), labels)
    back_images, back_labels = load_samples(path)
    assert back_images.dtype == np.float32 and back_labels.dtype == np.int64
    assert np.array_equal(back_images, images) and np.array_equal(back_labels, labels)
    with np.load(path) as data:
        assert set(data.files) == {"images", "labels"}


@pytest.mark.parametrize("images, labels", [
    (np.zeros((3, 1, 28, 28), np.float32), np.zeros(2, np.int64)),      # one label short
    (np.full((2, 1, 28, 28), 1.5, np.float32), np.zeros(2, np.int64)),  # outside [0, 1]
    (np.zeros((2, 3, 28, 28), np.float32), np.zeros(2, np.int64)),      # three channels
    (np.zeros((2, 1, 28, 28), np.float32), np.array([0, -2])),          # -2 is no class
])
def test_export_rejects_the_wrong_format(tmp_path, images, labels):
    with pytest.raises(ValueError):
        export_samples(tmp_path / "bad.npz", images, labels)


def test_load_judge_rejects_unknown_data_sets():
    with pytest.raises(ValueError):
        load_judge("cifar10")
