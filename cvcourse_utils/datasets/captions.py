"""Captioned shapes: one shape per image and a short text that is true by construction.

``load_dataset("shapes_captions", split, ...)`` draws each image from its attributes, so its
caption cannot be wrong::

    "a small red star at the top left"     size, colour name, shape, position
    "a large blue circle in the centre"    large shapes always sit near the centre
    "a photo of a green cross"             with ``keep < 1`` some attributes are left out

The attributes: a shape (:data:`CAPTION_SHAPES`), a colour (:data:`COLOR_NAMES`, painted from
:data:`COLOR_RGB` with a little jitter, on a dark background), a size (``"small"`` or
``"large"``) and, for small shapes, one of nine positions in a 3x3 grid (:data:`POSITIONS`).

Zero-shot means unseen: five (shape, colour) pairs, one per shape and one per colour
(:data:`HELD_OUT_PAIRS`), never appear with ``pairs="seen"`` (the default: train on these) and
are the only ones with ``pairs="held_out"`` (evaluate on these). ``pairs="all"`` mixes both.

Text becomes token ids with the tiny word-level :class:`CaptionTokenizer` (:data:`TOKENIZER`):
a fixed vocabulary of every word the captions and the usual prompts use, id 0 for padding.
Everything is deterministic for a seed, and train, val and test never share a stream.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from cvcourse_utils.datasets.shapes import SHAPE_CLASSES, _blend, _rotation, _shape_distance

CAPTION_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
COLOR_NAMES: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple")
COLOR_RGB = np.array(
    [[0.92, 0.20, 0.18], [0.20, 0.80, 0.28], [0.25, 0.45, 1.00], [0.95, 0.88, 0.20], [0.68, 0.30, 0.90]],
    dtype=np.float32,
)
SIZE_NAMES: tuple[str, ...] = ("small", "large")
# the 3x3 grid, row by row: (row, column) -> the phrase that ends the caption
POSITIONS: tuple[str, ...] = (
    "at the top left", "at the top", "at the top right",
    "on the left", "in the centre", "on the right",
    "at the bottom left", "at the bottom", "at the bottom right",
)
CENTRE = POSITIONS.index("in the centre")
# (shape, colour) pairs never shown in training captions: each shape once, each colour once
HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("circle", "blue"), ("square", "yellow"), ("triangle", "purple"), ("star", "red"), ("cross", "green"),
)
PAIR_CHOICES = ("seen", "held_out", "all")

# diameter as a fraction of the image side
_SIZE_RANGE = {0: (0.26, 0.34), 1: (0.55, 0.70)}
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_VIEW_CODE = 2  # shapes (0) and scenes (1) use the others: captioned images never repeat theirs
_DEFAULT_N = {"train": 5000, "val": 1000, "test": 1000}


# --------------------------------------------------------------------------- tokenizer


class CaptionTokenizer:
    """Word-level tokenizer with a fixed vocabulary (lower-case, split on spaces).

    ``tokenizer.encode("a red star") -> [ids]``; ``tokenizer(texts, length) -> LongTensor
    (B, length)``, padded with ``pad_id`` (0) and cut at ``length``; ``decode(ids)`` drops
    the padding. Unknown words map to ``unk_id`` (1). ``vocab`` lists the words by id.
    """

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, words: Sequence[str] | None = None, max_length: int = 12) -> None:
        base = words if words is not None else _vocabulary_words()
        self.vocab: list[str] = [self.PAD, self.UNK] + [w for w in dict.fromkeys(base) if w not in (self.PAD, self.UNK)]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.pad_id, self.unk_id = 0, 1
        self.max_length = int(max_length)

    def __len__(self) -> int:
        return len(self.vocab)

    @staticmethod
    def words(text: str) -> list[str]:
        return text.lower().replace(",", " ").replace(".", " ").split()

    def encode(self, text: str) -> list[int]:
        """Token ids of one text (no padding)."""
        return [self.index.get(w, self.unk_id) for w in self.words(text)]

    def decode(self, ids) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return " ".join(self.vocab[i] for i in ids if i != self.pad_id)

    def __call__(self, texts: str | Sequence[str], length: int | None = None) -> torch.Tensor:
        """texts: one string or B strings -> token ids (B, length) int64, 0-padded on the right."""
        if isinstance(texts, str):
            texts = [texts]
        length = self.max_length if length is None else int(length)
        out = torch.full((len(texts), length), self.pad_id, dtype=torch.int64)
        for i, text in enumerate(texts):
            ids = self.encode(text)[:length]
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out


def _vocabulary_words() -> list[str]:
    words = ["a", "an", "the", "photo", "picture", "drawing", "of", "shape", "one", "small", "large"]
    words += list(COLOR_NAMES) + list(CAPTION_SHAPES)
    for phrase in POSITIONS:
        words += phrase.split()
    return words


TOKENIZER = CaptionTokenizer()


# --------------------------------------------------------------------------- captions


def caption_text(shape: str, color: str | None = None, size: str | None = None, position: str | None = None,
                 photo: bool = False) -> str:
    """The caption of one image from its attributes; ``None`` leaves an attribute out.

    >>> caption_text("star", "red", "small", "at the top left")
    'a small red star at the top left'
    """
    words = ["a photo of"] if photo else []
    words += ["a"] + [w for w in (size, color) if w] + [shape]
    if position:
        words.append(position)
    return " ".join(words)


def held_out_mask(shapes: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """True where (CAPTION_SHAPES[shape], COLOR_NAMES[color]) is one of HELD_OUT_PAIRS. Shapes (N,) -> (N,) bool."""
    held = np.zeros((len(CAPTION_SHAPES), len(COLOR_NAMES)), bool)
    for s, c in HELD_OUT_PAIRS:
        held[CAPTION_SHAPES.index(s), COLOR_NAMES.index(c)] = True
    return held[np.asarray(shapes), np.asarray(colors)]


def _draw_pairs(rng: np.random.Generator, n: int, pairs: str) -> tuple[np.ndarray, np.ndarray]:
    """Balanced shapes (counts differ by at most one), and a colour for each allowed by ``pairs``."""
    shapes = rng.permutation(np.arange(n) % len(CAPTION_SHAPES))
    allowed = np.ones((len(CAPTION_SHAPES), len(COLOR_NAMES)), bool)
    held = held_out_mask(*np.divmod(np.arange(allowed.size), len(COLOR_NAMES))).reshape(allowed.shape)
    if pairs == "seen":
        allowed &= ~held
    elif pairs == "held_out":
        allowed &= held
    u = rng.random(n)
    colors = np.empty(n, np.int64)
    for s in range(len(CAPTION_SHAPES)):
        choices = np.flatnonzero(allowed[s])
        idx = shapes == s
        colors[idx] = choices[np.minimum((u[idx] * len(choices)).astype(np.int64), len(choices) - 1)]
    return shapes.astype(np.int64), colors


@dataclass
class CaptionedShapeData:
    """What :func:`generate_captioned_shapes` returns (N images, attributes as indices).

    images (N, 3, S, S) uint8; shapes, colors, sizes, positions (N,) int64 indices into
    CAPTION_SHAPES, COLOR_NAMES, SIZE_NAMES, POSITIONS; captions: N strings.
    """

    images: np.ndarray
    shapes: np.ndarray
    colors: np.ndarray
    sizes: np.ndarray
    positions: np.ndarray
    captions: list[str]


def generate_captioned_shapes(n: int, *, image_size: int = 32, seed: int | np.random.SeedSequence = 0,
                              pairs: str = "seen", keep: float = 1.0, keep_color: float | None = None,
                              noise: float = 0.02) -> CaptionedShapeData:
    """Draw ``n`` captioned images (deterministic for ``seed``).

    pairs: ``"seen"`` (no held-out pair), ``"held_out"`` (only those) or ``"all"``. keep: the
    probability that each of size, colour and position is named in the caption (1.0: always;
    lower values teach a text encoder that "a star" is a star whatever its colour); keep_color:
    the same for the colour alone (default: ``keep``); with ``keep < 1`` a third of the captions
    also start with "a photo of". noise: std of pixel noise.
    """
    if pairs not in PAIR_CHOICES:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_CHOICES)}, not {pairs!r}")
    keep_color = keep if keep_color is None else keep_color
    if not (0.0 <= keep <= 1.0 and 0.0 <= keep_color <= 1.0):
        raise ValueError(f"keep and keep_color must lie in [0, 1], got {keep} and {keep_color}")
    if n < 0 or image_size < 16:
        raise ValueError("need n >= 0 and image_size >= 16")
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    rng, noise_rng, text_rng = (np.random.default_rng(s) for s in seq.spawn(3))
    size, f32 = int(image_size), np.float32

    shapes, colors = _draw_pairs(rng, n, pairs)
    sizes = (rng.random(n) < 0.5).astype(np.int64)
    positions = rng.integers(0, len(POSITIONS), n)
    positions[sizes == 1] = CENTRE
    lo = np.array([_SIZE_RANGE[s][0] for s in sizes])
    hi = np.array([_SIZE_RANGE[s][1] for s in sizes])
    radius = (rng.uniform(lo, hi) * size / 2).astype(f32)
    # centre of the grid cell, a little jitter, and never closer than one pixel to the border
    cell = size / 3
    row, col = np.divmod(positions, 3)
    jitter = rng.uniform(-cell / 6, cell / 6, (2, n))
    cx = np.clip((col + 0.5) * cell + jitter[0], radius + 1, size - radius - 1).astype(f32)
    cy = np.clip((row + 0.5) * cell + jitter[1], radius + 1, size - radius - 1).astype(f32)
    c, s = _rotation(rng, n)
    color = np.clip(COLOR_RGB[colors] + rng.uniform(-0.06, 0.06, (n, 3)).astype(f32), 0, 1).astype(f32)
    background = (rng.random((n, 3)) * 0.25).astype(f32)

    images = np.empty((n, 3, size, size), np.uint8)
    coords = np.arange(size, dtype=f32) + f32(0.5)
    for start in range(0, n, 256):
        sl = slice(start, min(start + 256, n))
        k = sl.stop - sl.start
        img = np.ascontiguousarray(np.broadcast_to(background[sl, :, None, None], (k, 3, size, size)), dtype=f32)
        dist = np.full((k, size, size), np.inf, f32)
        for kind, name in enumerate(CAPTION_SHAPES):
            idx = np.flatnonzero(shapes[sl] == kind)
            if idx.size == 0:
                continue
            j = idx + start
            dist[idx] = _shape_distance(SHAPE_CLASSES.index(name), coords[None, None, :] - cx[j, None, None],
                                        coords[None, :, None] - cy[j, None, None], radius[j, None, None],
                                        c[j, None, None], s[j, None, None])
        _blend(img, dist, color[sl])
        if noise > 0:
            img += (noise_rng.random(img.shape, dtype=f32) - f32(0.5)) * f32(noise * math.sqrt(12.0))
        np.clip(img * f32(255) + f32(0.5), 0, 255, out=img)
        images[sl] = img.astype(np.uint8)

    named = text_rng.random((n, 3)) < np.array([keep, keep_color, keep])  # size, colour, position
    photo = (text_rng.random(n) < 1 / 3) & (min(keep, keep_color) < 1)
    captions = [
        caption_text(CAPTION_SHAPES[shapes[i]], COLOR_NAMES[colors[i]] if named[i, 1] else None,
                     SIZE_NAMES[sizes[i]] if named[i, 0] else None, POSITIONS[positions[i]] if named[i, 2] else None,
                     photo=bool(photo[i]))
        for i in range(n)
    ]
    return CaptionedShapeData(images, shapes, colors, sizes, positions, captions)


class CaptionedShapes(Dataset):
    """Images with captions; item ``i`` is ``(image (3, S, S) float32 in [0, 1], tokens (L,) int64, label int)``.

    label is the shape class (index into ``classes`` = CAPTION_SHAPES). Attributes of every image:
    ``captions`` (N strings), ``shapes``, ``colors``, ``sizes``, ``positions`` ((N,) int64 indices),
    ``images`` (N, 3, S, S) uint8, ``tokenizer`` (a :class:`CaptionTokenizer`). ``transform`` is
    applied to the image only.
    """

    def __init__(self, data: CaptionedShapeData, *, tokenizer: CaptionTokenizer = TOKENIZER,
                 transform: Callable | None = None) -> None:
        self.images, self.captions = data.images, list(data.captions)
        self.shapes, self.colors, self.sizes, self.positions = data.shapes, data.colors, data.sizes, data.positions
        self.classes = list(CAPTION_SHAPES)
        self.color_names, self.size_names, self.position_names = list(COLOR_NAMES), list(SIZE_NAMES), list(POSITIONS)
        self.tokenizer, self.transform = tokenizer, transform
        self.tokens = tokenizer(self.captions) if len(self.captions) else torch.zeros((0, tokenizer.max_length), dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = torch.from_numpy(self.images[i]).float().div_(255)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.tokens[i], int(self.shapes[i])

    def image_tensor(self) -> torch.Tensor:
        """All images as (N, 3, S, S) float32 in [0, 1]."""
        return torch.from_numpy(self.images).float().div_(255)


def load_captioned_shapes(split: str = "train", *, n: int | None = None, image_size: int | None = None, seed: int = 0,
                          transform: Callable | None = None, pairs: str = "seen", keep: float = 1.0,
                          keep_color: float | None = None, noise: float = 0.02) -> CaptionedShapes:
    """One split of the captioned shapes (what ``load_dataset("shapes_captions", ...)`` returns).

    n: images (default 5,000 train, 1,000 val and test); image_size: side (default 32); pairs,
    keep, keep_color, noise: see :func:`generate_captioned_shapes`.
    """
    if pairs not in PAIR_CHOICES:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_CHOICES)}, not {pairs!r}")
    count = _DEFAULT_N[split] if n is None else int(n)
    size = 32 if image_size is None else int(image_size)
    seq = np.random.SeedSequence([int(seed), _VIEW_CODE, _SPLIT_CODE[split], PAIR_CHOICES.index(pairs)])
    data = generate_captioned_shapes(count, image_size=size, seed=seq, pairs=pairs, keep=keep,
                                     keep_color=keep_color, noise=noise)
    return CaptionedShapes(data, transform=transform)
