"""Captioned shapes: true captions, held-out pairs, determinism, the tokenizer and load_dataset."""
import numpy as np
import pytest
import torch

from cvcourse_utils.datasets import HELD_OUT_PAIRS, TOKENIZER, load_dataset
from cvcourse_utils.datasets.captions import (
    CAPTION_SHAPES,
    COLOR_NAMES,
    POSITIONS,
    SIZE_NAMES,
    CaptionTokenizer,
    caption_text,
    generate_captioned_shapes,
    held_out_mask,
)


def test_captions_name_the_drawn_attributes():
    data = generate_captioned_shapes(60, seed=3)
    for i, caption in enumerate(data.captions):
        assert caption == caption_text(CAPTION_SHAPES[data.shapes[i]], COLOR_NAMES[data.colors[i]],
                                       SIZE_NAMES[data.sizes[i]], POSITIONS[data.positions[i]])
    assert data.captions[0].startswith("a ") and data.images.shape == (60, 3, 32, 32) and data.images.dtype == np.uint8
    assert (data.positions[data.sizes == 1] == POSITIONS.index("in the centre")).all()
    assert np.bincount(data.shapes, minlength=5).max() - np.bincount(data.shapes, minlength=5).min() <= 1


def test_images_show_the_colour_and_position_of_the_caption():
    data = generate_captioned_shapes(200, seed=0, noise=0.0)
    images = data.images.astype(np.float32) / 255
    for i in range(200):
        bright = images[i].max(axis=0) > 0.5  # shape pixels (the background is darker than 0.25)
        assert bright.any()
        rgb = images[i][:, bright].mean(axis=1)
        name = COLOR_NAMES[int(np.argmin(np.abs(
            np.array([[0.92, 0.20, 0.18], [0.20, 0.80, 0.28], [0.25, 0.45, 1.00], [0.95, 0.88, 0.20], [0.68, 0.30, 0.90]]) - rgb
        ).sum(1)))]
        assert name == COLOR_NAMES[data.colors[i]]
        if data.sizes[i] == 0:  # small shapes: the centre of mass lies in the named cell of the 3x3 grid
            ys, xs = np.nonzero(bright)
            row, col = divmod(int(data.positions[i]), 3)
            assert int(ys.mean() // (32 / 3)) == row and int(xs.mean() // (32 / 3)) == col


def test_held_out_pairs_are_held_out():
    assert len(HELD_OUT_PAIRS) == 5
    assert sorted(s for s, _ in HELD_OUT_PAIRS) == sorted(CAPTION_SHAPES)
    assert sorted(c for _, c in HELD_OUT_PAIRS) == sorted(COLOR_NAMES)
    seen = load_dataset("shapes_captions", "train", n=500)
    held = load_dataset("shapes_captions", "test", n=100, pairs="held_out")
    assert not held_out_mask(seen.shapes, seen.colors).any()
    assert held_out_mask(held.shapes, held.colors).all()
    for shape, colour in HELD_OUT_PAIRS:
        assert not any(f"{colour} {shape}" in c for c in seen.captions)
    both = load_dataset("shapes_captions", "val", n=400, pairs="all")
    assert 0 < held_out_mask(both.shapes, both.colors).mean() < 0.5


def test_deterministic_and_splits_differ():
    a = load_dataset("shapes_captions", "train", n=20, seed=1, keep=0.5)
    b = load_dataset("shapes_captions", "train", n=20, seed=1, keep=0.5)
    c = load_dataset("shapes_captions", "val", n=20, seed=1, keep=0.5)
    assert np.array_equal(a.images, b.images) and a.captions == b.captions
    assert not np.array_equal(a.images, c.images)


def test_keep_drops_attributes_but_never_the_shape():
    data = generate_captioned_shapes(300, seed=2, keep=0.5, keep_color=0.2)
    assert any("photo of" in c for c in data.captions)
    assert len(set(data.captions)) < 300
    colour_named = np.mean([COLOR_NAMES[k] in c for k, c in zip(data.colors, data.captions)])
    assert 0.1 < colour_named < 0.3
    for k, caption in zip(data.shapes, data.captions):
        assert CAPTION_SHAPES[k] in caption.split()
    with pytest.raises(ValueError):
        generate_captioned_shapes(2, keep=1.5)
    with pytest.raises(ValueError, match="pairs"):
        load_dataset("shapes_captions", "train", n=2, pairs="unseen")


def test_dataset_items_and_tokenizer():
    ds = load_dataset("shapes_captions", "val", n=10)
    image, tokens, label = ds[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert tokens.shape == (TOKENIZER.max_length,) and tokens.dtype == torch.int64
    assert TOKENIZER.decode(tokens) == ds.captions[3] and label == ds.shapes[3]
    assert ds.classes == list(CAPTION_SHAPES) and ds.image_tensor().shape == (10, 3, 32, 32)
    assert 1 not in ds.tokens  # every caption word is in the vocabulary
    batch = TOKENIZER(["a photo of a star", "a zebra"], length=6)
    assert batch.shape == (2, 6) and batch[0, 5] == TOKENIZER.pad_id and batch[1, 1] == TOKENIZER.unk_id
    tok = CaptionTokenizer(["cat", "dog"], max_length=3)
    assert tok.vocab == ["<pad>", "<unk>", "cat", "dog"] and tok("dog cat cat cat").tolist() == [[3, 2, 2]]
    with pytest.raises(ValueError, match="as_numpy"):
        load_dataset("shapes_captions", n=2, as_numpy=True)
