"""Two-view augmentation and multi-crop (cvcourse_utils.views): shapes, range, randomness, seeds, errors."""
import pytest
import torch
from torchvision.transforms import v2

from cvcourse_utils.datasets import load_dataset
from cvcourse_utils.views import TwoViews, apply_per_image, multi_crop, two_views, view_transform


def _shapes(n=6):
    return load_dataset("shapes", n=n, difficulty="cluttered", as_numpy=True)[0]


def test_two_views_have_the_input_shape_stay_in_range_and_differ():
    x = torch.from_numpy(_shapes())
    v1, v2_ = two_views(x, seed=0)
    assert v1.shape == v2_.shape == x.shape and v1.dtype == torch.float32
    assert v1.min() >= 0 and v1.max() <= 1 and v2_.min() >= 0 and v2_.max() <= 1
    per_image = (v1 - v2_).abs().flatten(1).amax(1)
    assert (per_image > 0.05).all()                      # every image gets its own pair of different views
    assert (v1[0] - v1[1:]).abs().amax() > 0.05


def test_each_image_gets_its_own_crop():
    x = torch.rand(1, 3, 32, 32).repeat(8, 1, 1, 1)     # eight copies of one image
    crop = v2.RandomResizedCrop(32, scale=(0.1, 0.5), antialias=True)
    out = apply_per_image(crop, x, seed=1)
    assert len({tuple(img.flatten()[:20].tolist()) for img in out}) > 1


def test_the_same_seed_gives_the_same_views_and_leaves_the_global_generator_alone():
    x = torch.from_numpy(_shapes(4))
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    a = two_views(x, seed=3)
    assert torch.equal(torch.rand(3), expected_next)     # seeded views do not consume the global stream
    b = two_views(x, seed=3)
    c = two_views(x, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_unseeded_views_follow_the_global_seed():
    x = torch.from_numpy(_shapes(3))
    torch.manual_seed(0)
    a = two_views(x)
    torch.manual_seed(0)
    b = two_views(x)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], a[1])


def test_digits_are_grey_and_not_flipped_by_default():
    x = torch.from_numpy(load_dataset("digits", n=10, image_size=28, as_numpy=True)[0])
    t = view_transform(28, channels=1)
    names = [type(step).__name__ for step in t.transforms]
    assert "RandomHorizontalFlip" not in names and "RandomGrayscale" not in names
    v1, v2_ = two_views(x, t, seed=0)
    assert v1.shape == (10, 1, 28, 28) and 0 <= v1.min() and v1.max() <= 1
    assert "RandomHorizontalFlip" in [type(s).__name__ for s in view_transform(32).transforms]


def test_view_size_can_differ_from_the_image():
    v1, _ = two_views(torch.rand(2, 3, 32, 32), view_transform(24), seed=0)
    assert v1.shape == (2, 3, 24, 24)


def test_multi_crop_gives_two_global_and_k_local_views():
    x = torch.from_numpy(_shapes(5))
    crops = multi_crop(x, n_local=3, seed=0)
    assert [c.shape for c in crops] == [(5, 3, 32, 32)] * 2 + [(5, 3, 16, 16)] * 3
    assert all(0 <= c.min() and c.max() <= 1 for c in crops)
    assert not torch.equal(crops[0], crops[1])
    again = multi_crop(x, n_local=3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(crops, again))
    assert [c.shape[-1] for c in multi_crop(x, n_local=1, local_size=12, seed=0)] == [32, 32, 12]
    assert len(multi_crop(x, n_local=0, seed=0)) == 2


def test_two_views_as_a_dataset_transform():
    dataset = load_dataset("shapes", n=4, transform=TwoViews(view_transform(32)))
    (a, b), label = dataset[0]
    assert a.shape == b.shape == (3, 32, 32) and not torch.equal(a, b) and isinstance(label, int)


@pytest.mark.parametrize("bad", [torch.rand(3, 32, 32), torch.zeros(2, 3, 8, 8, dtype=torch.uint8)])
def test_bad_batches_are_refused(bad):
    with pytest.raises(ValueError):
        two_views(bad)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="channels"):
        view_transform(32, channels=2)
    with pytest.raises(ValueError, match="scale"):
        view_transform(32, scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="n_local"):
        multi_crop(torch.rand(1, 3, 8, 8), n_local=-1)
