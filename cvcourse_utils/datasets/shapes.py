"""Generated shapes: coloured circles, squares, triangles, stars and crosses on noisy backgrounds.

One generator (:func:`generate_shapes`) draws scenes of shapes; three views use it:

- classification: one shape per image, the label is its class (``load_dataset("shapes")``)
- detection: 1..``max_objects`` shapes per image, boxes and labels (``"shapes_detection"``)
- segmentation: a class per pixel and a mask per shape (``"shapes_segmentation"``)

Shapes are rasterised with vectorised NumPy: every shape is a union of convex pieces, every
piece an intersection of half-planes ``n . p <= h``, so the signed distance of each pixel to
the shape is a ``max`` of dot products (a ``min`` over pieces). Pixels are blended with an
anti-aliased alpha ``clip(0.5 - distance, 0, 1)``. Only ``+ - * / sqrt min max`` are used on
pixels (IEEE-exact everywhere, unlike ``sin`` or ``exp``), and rotations come from a rational
point on the unit circle, so the same seed gives bit-identical images on any machine.

Difficulty knobs: ``noise`` (standard deviation of uniform pixel noise), ``clutter``
(distractor strokes and blobs per 32x32 pixels), ``occlusion`` (size of a patch hiding part of
each shape, as a fraction of its radius), ``size_range`` (shape diameter as a fraction of the
image side), ``class_colors`` (each class has its own colour) and ``background``
(``"plain"`` or ``"gradient"``). Presets: ``difficulty="easy"`` (class-coloured shapes on a
plain dark background: even colour alone gives the class away) and ``"cluttered"`` (random
colours, gradient backgrounds, distractors and noise: the outline is the only cue).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
# A second set of five classes, drawn the same way: the target task of transfer learning (module 05).
# ``generate_shapes(..., class_set="new")`` draws these instead; labels 0..4 then index this tuple.
NEW_SHAPE_CLASSES: tuple[str, ...] = ("pentagon", "diamond", "arrow", "ell", "tee")
CLASS_SETS = {"original": SHAPE_CLASSES, "new": NEW_SHAPE_CLASSES}

DIFFICULTIES = ("easy", "cluttered")


@dataclass(frozen=True)
class ShapeStyle:
    """The knobs of the generator (see the module docstring)."""

    noise: float
    clutter: float
    occlusion: float
    size_range: tuple[float, float]
    class_colors: bool
    background: str


_PRESETS = {
    "easy": dict(noise=0.02, clutter=0.0, occlusion=0.0, class_colors=True, background="plain"),
    "cluttered": dict(noise=0.06, clutter=5.0, occlusion=0.0, class_colors=False, background="gradient"),
}
# shape diameter as a fraction of the image side: one large shape, or several smaller ones
_SIZE_RANGE = {"single": (0.45, 0.85), "scene": (0.2, 0.4)}


def shape_style(difficulty: str = "easy", *, scene: bool = False, **knobs) -> ShapeStyle:
    """The preset ``difficulty`` with any knob (``noise=0.1``, ...) overridden; ``None`` keeps the preset."""
    if difficulty not in _PRESETS:
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")
    unknown = set(knobs) - set(ShapeStyle.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown shapes option(s) {sorted(unknown)}; knobs are {sorted(ShapeStyle.__dataclass_fields__)}")
    style = ShapeStyle(**_PRESETS[difficulty], size_range=_SIZE_RANGE["scene" if scene else "single"])
    style = replace(style, **{k: v for k, v in knobs.items() if v is not None})
    lo, hi = (float(s) for s in style.size_range)
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"size_range must satisfy 0 < low <= high <= 1, got {style.size_range}")
    if style.noise < 0 or style.clutter < 0:
        raise ValueError("noise and clutter must be >= 0")
    if not 0 <= style.occlusion <= 0.6:
        raise ValueError(f"occlusion must lie in [0, 0.6] (a fraction of the shape's radius), got {style.occlusion}")
    if style.background not in ("plain", "gradient"):
        raise ValueError(f"background must be 'plain' or 'gradient', not {style.background!r}")
    return replace(style, size_range=(lo, hi), noise=float(style.noise), clutter=float(style.clutter),
                   occlusion=float(style.occlusion), class_colors=bool(style.class_colors))


# ---------------------------------------------------------------------------------------------
# Shape geometry: convex pieces as half-planes (nx, ny, h), in units of the circumradius.
# cos/sin of the few angles we need, from square roots only (exact on every machine).
_S5 = math.sqrt(5.0)
_COS_FIRST_QUADRANT = {
    0: 1.0, 18: math.sqrt(10.0 + 2.0 * _S5) / 4.0, 30: math.sqrt(3.0) / 2.0, 36: (1.0 + _S5) / 4.0,
    45: math.sqrt(0.5), 54: math.sqrt(10.0 - 2.0 * _S5) / 4.0, 60: 0.5, 72: (_S5 - 1.0) / 4.0, 90: 0.0,
}


def _direction(degrees: int) -> tuple[float, float]:
    """(cos, sin) of an angle that is a multiple of 6 or 45 degrees, without calling cos or sin."""
    d = degrees % 360
    quadrant, a = divmod(d, 90)
    c, s = _COS_FIRST_QUADRANT[a], _COS_FIRST_QUADRANT[90 - a]
    return [(c, s), (-s, c), (-c, -s), (s, -c)][quadrant]


def _convex_piece(vertices: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """Half-planes ``nx*x + ny*y <= h`` (unit normals) whose intersection is the convex polygon."""
    cx = sum(v[0] for v in vertices) / len(vertices)
    cy = sum(v[1] for v in vertices) / len(vertices)
    planes = []
    for (ax, ay), (bx, by) in zip(vertices, vertices[1:] + vertices[:1]):
        nx, ny = by - ay, ax - bx
        norm = math.sqrt(nx * nx + ny * ny)
        nx, ny = nx / norm, ny / norm
        h = nx * ax + ny * ay
        if nx * cx + ny * cy > h:  # make the normal point outwards
            nx, ny, h = -nx, -ny, -h
        planes.append((nx, ny, h))
    return planes


def _polar(radius: float, degrees: int) -> tuple[float, float]:
    c, s = _direction(degrees)
    return radius * c, radius * s


_STAR_INNER = 0.45  # inner radius of the star's notches, relative to its points
_CROSS_ARM, _CROSS_HALF_WIDTH = 0.93, 0.33
_CIRCLE_RADIUS = 0.8  # a circle of radius 0.8 has about the area of the square
_COS36, _SIN36 = _direction(36)

_PIECES: dict[str, list[list[tuple[float, float, float]]]] = {
    "square": [_convex_piece([_polar(1.0, a) for a in (45, 135, 225, 315)])],
    "triangle": [_convex_piece([_polar(1.0, a) for a in (270, 30, 150)])],
    "cross": [
        _convex_piece([(-_CROSS_ARM, -_CROSS_HALF_WIDTH), (_CROSS_ARM, -_CROSS_HALF_WIDTH),
                       (_CROSS_ARM, _CROSS_HALF_WIDTH), (-_CROSS_ARM, _CROSS_HALF_WIDTH)]),
        _convex_piece([(-_CROSS_HALF_WIDTH, -_CROSS_ARM), (_CROSS_HALF_WIDTH, -_CROSS_ARM),
                       (_CROSS_HALF_WIDTH, _CROSS_ARM), (-_CROSS_HALF_WIDTH, _CROSS_ARM)]),
    ],
}
# the new set (class_set="new"): a regular pentagon, a slim rhombus, an arrow, an L and a T
_PIECES.update({
    "pentagon": [_convex_piece([_polar(1.0, a) for a in (270, 342, 54, 126, 198)])],
    "diamond": [_convex_piece([(0.0, -1.0), (0.55, 0.0), (0.0, 1.0), (-0.55, 0.0)])],
    "arrow": [_convex_piece([(-0.95, -0.22), (0.1, -0.22), (0.1, 0.22), (-0.95, 0.22)]),
              _convex_piece([(0.0, -0.7), (0.95, 0.0), (0.0, 0.7)])],
    "ell": [_convex_piece([(-0.7, -0.9), (-0.2, -0.9), (-0.2, 0.9), (-0.7, 0.9)]),
            _convex_piece([(-0.7, 0.4), (0.75, 0.4), (0.75, 0.9), (-0.7, 0.9)])],
    "tee": [_convex_piece([(-0.9, -0.9), (0.9, -0.9), (0.9, -0.4), (-0.9, -0.4)]),
            _convex_piece([(-0.25, -0.9), (0.25, -0.9), (0.25, 0.9), (-0.25, 0.9)])],
})

# colours of the classes in the "easy" preset (class_colors=True)
_CLASS_COLORS = np.array(
    [[0.92, 0.22, 0.20], [0.20, 0.80, 0.30], [0.25, 0.45, 1.00], [0.95, 0.85, 0.20], [0.85, 0.30, 0.85]],
    dtype=np.float32,
)
_CHUNK = 256  # images rendered at a time: small enough to stay in the CPU cache


def _shape_distance(kind: int, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray, c: np.ndarray,
                    s: np.ndarray) -> np.ndarray:
    """Signed distance in pixels (negative inside) of each pixel to one shape per image.

    dx: (n, 1, W), dy: (n, H, 1) pixel centres minus the shape centre; radius, c, s: (n, 1, 1)
    circumradius and the rotation (cos, sin). Returns (n, H, W).
    """
    name = (SHAPE_CLASSES + NEW_SHAPE_CLASSES)[kind]  # kinds 5..9: the new set
    if name == "circle":
        return np.sqrt(dx * dx + dy * dy) - np.float32(_CIRCLE_RADIUS) * radius
    if name == "star":
        return _star_distance(dx * c + dy * s, dy * c - dx * s, radius)
    best = None
    for piece in _PIECES[name]:
        inside = None
        for nx, ny, h in piece:
            # the normal rotated with the shape: (nx c - ny s, nx s + ny c)
            rx, ry = np.float32(nx) * c - np.float32(ny) * s, np.float32(nx) * s + np.float32(ny) * c
            d = (rx * dx - np.float32(h) * radius) + ry * dy
            inside = d if inside is None else np.maximum(inside, d, out=inside)
        best = inside if best is None else np.minimum(best, inside, out=best)
    return best


def _star_distance(u: np.ndarray, v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Exact signed distance to a five-pointed star (points at radius, notches at 0.45 radius).

    The plane is folded onto one half-point by reflections across the star's mirror lines,
    then the distance to that single edge is measured (after Inigo Quilez's ``sdStar5``).
    u, v: (n, H, W) coordinates in the star's frame, in pixels; radius: (n, 1, 1).
    """
    f32 = np.float32
    k1x, k1y = f32(_COS36), f32(-_SIN36)
    x = np.abs(u)
    y = v
    for kx in (k1x, -k1x):  # reflect across the mirror lines with normals (k1x, k1y) and (-k1x, k1y)
        proj = np.maximum(kx * x + k1y * y, f32(0)) * f32(2)
        x, y = x - proj * kx, y - proj * k1y
    x = np.abs(x)
    y = y - radius
    bax, bay = f32(_STAR_INNER * _SIN36), f32(_STAR_INNER * _COS36 - 1.0)  # tip -> notch, per unit radius
    h = np.clip((x * bax + y * bay) / (bax * bax + bay * bay), f32(0), radius)
    qx, qy = x - bax * h, y - bay * h
    return np.sqrt(qx * qx + qy * qy) * np.sign(y * bax - x * bay)


def _blend(images: np.ndarray, distance: np.ndarray, color: np.ndarray) -> None:
    """Paint ``color`` (n, 3) where ``distance`` (n, H, W) is negative, anti-aliased, in place.

    images: (n, 3, H, W), C-contiguous. Only pixels with a non-zero alpha are touched (shapes
    and strokes cover a small part of an image, so this is much faster than blending all).
    """
    n, _, height, width = images.shape
    plane = height * width
    alpha = np.clip(np.float32(0.5) - distance.reshape(-1), 0.0, 1.0)
    where = np.flatnonzero(alpha)  # image * plane + pixel
    a = alpha[where]
    image = where // plane
    first = where + image * (2 * plane)  # index of channel 0 in the flat (n, 3, H*W) array
    flat, colors = images.reshape(-1), color.reshape(-1)
    for channel in range(3):
        at = first + channel * plane
        old = flat[at]
        flat[at] = old + a * (colors[image * 3 + channel] - old)


def _rotation(rng: np.random.Generator, n: int, full_turn: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random rotations as (cos, sin) from a rational point of the unit circle (no trigonometry).

    With t uniform in [-1, 1], ((1 - t^2) / (1 + t^2), 2t / (1 + t^2)) covers -90..90 degrees,
    which is every orientation of the shapes here (each repeats itself after 180 degrees or less).
    """
    t = rng.uniform(-1.0, 1.0, n).astype(np.float32)
    c, s = (1 - t * t) / (1 + t * t), (2 * t) / (1 + t * t)
    if full_turn:
        flip = np.where(rng.random(n) < 0.5, np.float32(-1), np.float32(1))
        c, s = c * flip, s * flip
    return c.astype(np.float32), s.astype(np.float32)


def _side(polarity: np.ndarray, u: np.ndarray, light: bool | np.ndarray) -> np.ndarray:
    """Colours on the light (or dark) side of each channel's polarity.

    polarity: (n, 3) of +1 (background dark, shapes light in that channel) or -1 (the reverse);
    u: (n, 3) or (n, k, 3) uniform in [0, 1); light: one bool or one per image (n,).
    Dark channels lie in [0, 0.4), light ones in [0.6, 1), so a light colour and a dark one
    differ by more than 0.2 in every channel.
    """
    light = np.asarray(light)
    if light.ndim == 1:
        light = light[:, None]
    if u.ndim == 3:  # (n, k, 3): k colours per image (one light value for all)
        polarity = polarity[:, None, :]
    dark, bright = np.float32(0.4) * u, np.float32(0.6) + np.float32(0.4) * u
    return np.where((polarity > 0) == light, bright, dark).astype(np.float32)


@dataclass
class ShapeScenes:
    """What :func:`generate_shapes` returns.

    images: (N, 3, S, S) uint8; labels: (N, M) int64 class index of each object slot, -1 if the
    slot is empty; instance_map: (N, S, S) uint8, 0 = background, m + 1 = visible pixels of
    slot m (None unless asked for).
    """

    images: np.ndarray
    labels: np.ndarray
    instance_map: np.ndarray | None


def generate_shapes(
    n: int,
    *,
    image_size: int = 32,
    max_objects: int = 1,
    seed: int | np.random.SeedSequence = 0,
    difficulty: str = "easy",
    instance_map: bool = False,
    class_set: str = "original",
    **knobs,
) -> ShapeScenes:
    """Draw ``n`` images of shapes (deterministic for a given ``seed``).

    With ``max_objects=1`` every image holds exactly one shape and the classes are balanced
    (their counts differ by at most one). With ``max_objects > 1`` each image holds between 1
    and ``max_objects`` shapes of random classes that overlap little; the ``instance_map``
    says which shape each pixel shows (after occlusion). ``knobs``: noise, clutter,
    occlusion, size_range, class_colors, background (see the module docstring).
    ``class_set``: ``"original"`` (``SHAPE_CLASSES``) or ``"new"`` (``NEW_SHAPE_CLASSES``, five
    other shapes with the same styles; labels 0..4 index that tuple).
    """
    if class_set not in CLASS_SETS:
        raise ValueError(f"class_set must be one of {', '.join(CLASS_SETS)}, not {class_set!r}")
    kind_offset = 0 if class_set == "original" else len(SHAPE_CLASSES)
    if n < 0 or image_size < 8 or max_objects < 1:
        raise ValueError("need n >= 0, image_size >= 8 and max_objects >= 1")
    style = shape_style(difficulty, scene=max_objects > 1, **knobs)
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    param_rng, noise_rng = (np.random.default_rng(s) for s in seq.spawn(2))
    size, num_classes = int(image_size), len(SHAPE_CLASSES)
    f32 = np.float32

    # ---- every random choice is drawn up front, for all images at once -----------------
    if style.class_colors:  # light class colours on a dark background
        polarity = np.ones((n, 3), f32)
        bg_u = param_rng.random((n, 4, 3)).astype(f32) * f32(0.6)
    else:  # per image and channel, a coin decides whether the background is the dark side
        polarity = np.where(param_rng.random((n, 3)) < 0.5, f32(-1), f32(1))
        bg_u = param_rng.random((n, 4, 3)).astype(f32)
    background = _side(polarity, bg_u, light=False)  # (n, 4, 3) colours of the four corners
    if style.background == "plain":
        background[:] = background[:, :1]

    slots = []
    if max_objects == 1:
        counts = np.ones(n, np.int64)
        classes = [param_rng.permutation(np.arange(n) % num_classes)]
    else:
        counts = param_rng.integers(1, max_objects + 1, n)
        classes = [param_rng.integers(0, num_classes, n) for _ in range(max_objects)]
    lo, hi = style.size_range
    for m in range(max_objects):
        active = counts > m
        radius = (param_rng.uniform(lo, hi, n) * size / 2).astype(f32)
        # centres: keep the whole shape inside; in scenes, retry until it barely touches the others
        tries = 1 if m == 0 else 12
        span = np.maximum(size - 2 * radius - 2, 0)[:, None]
        cx = (radius + 1)[:, None] + param_rng.random((n, tries)).astype(f32) * span
        cy = (radius + 1)[:, None] + param_rng.random((n, tries)).astype(f32) * span
        ok = np.ones((n, tries), bool)
        for prev in slots:
            gap = f32(0.85) * (radius + prev["radius"])
            far = (cx - prev["cx"][:, None]) ** 2 + (cy - prev["cy"][:, None]) ** 2 >= (gap * gap)[:, None]
            ok &= far | ~prev["active"][:, None]
        first = ok.argmax(1)
        active &= ok.any(1)
        c, s = _rotation(param_rng, n)
        if style.class_colors:
            jitter = param_rng.uniform(-0.08, 0.08, (n, 3)).astype(f32)
            color = np.clip(_CLASS_COLORS[classes[m]] + jitter, 0, 1)
        else:
            color = _side(polarity, param_rng.random((n, 3)).astype(f32), light=True)
        slot = dict(active=active, kind=classes[m], radius=radius, cx=cx[np.arange(n), first],
                    cy=cy[np.arange(n), first], c=c, s=s, color=color)
        if style.occlusion > 0:
            oc, os_ = _rotation(param_rng, n, full_turn=True)
            reach = param_rng.uniform(0.6, 1.0, n).astype(f32) * radius
            slot.update(
                occ_cx=slot["cx"] + reach * oc, occ_cy=slot["cy"] + reach * os_,
                occ_half=param_rng.uniform(0.6, 1.0, n).astype(f32) * f32(style.occlusion) * radius,
                occ_color=_side(polarity, param_rng.random((n, 3)).astype(f32), light=False),
            )
        slots.append(slot)

    # distractors are capsules (a segment with a thickness): long thin strokes, or short fat blobs
    n_clutter = int(round(style.clutter * (size / 32) ** 2))
    clutter = []
    for _ in range(n_clutter):
        is_stroke = param_rng.random(n) < 0.6
        ax, ay = (param_rng.random((2, n)) * size).astype(f32)
        ec, es = _rotation(param_rng, n, full_turn=True)
        length = np.where(is_stroke, param_rng.uniform(0.2, 0.5, n) * size, param_rng.uniform(0, 1.5, n) * size / 32)
        # blobs stay far smaller than the smallest circle, so no distractor can pass for a shape
        half_width = np.where(is_stroke, param_rng.uniform(0.5, 1.0, n), param_rng.uniform(0.8, 1.6, n) * size / 32)
        clutter.append(dict(
            ax=ax, ay=ay, ux=ec, uy=es, length=length.astype(f32), half_width=half_width.astype(f32),
            # half of the distractors contrast like the shapes, half are darker texture
            color=_side(polarity, param_rng.random((n, 3)).astype(f32), light=param_rng.random(n) < 0.5),
        ))

    # ---- rendering, a chunk of images at a time --------------------------------------------
    images = np.empty((n, 3, size, size), np.uint8)
    inst = np.zeros((n, size, size), np.uint8) if instance_map else None
    coords = np.arange(size, dtype=f32) + f32(0.5)  # pixel centres
    ramp = (coords / f32(size))
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        k = sl.stop - sl.start
        bg = background[sl]  # (k, 4, 3)
        wx, wy = ramp[None, None, None, :], ramp[None, None, :, None]
        top = bg[:, 0, :, None, None] + (bg[:, 1, :, None, None] - bg[:, 0, :, None, None]) * wx
        bottom = bg[:, 2, :, None, None] + (bg[:, 3, :, None, None] - bg[:, 2, :, None, None]) * wx
        img = np.ascontiguousarray(top + (bottom - top) * wy, dtype=f32)  # (k, 3, S, S)

        for item in clutter:  # distance to the segment from a, along u, of the given length
            dx = coords[None, None, :] - item["ax"][sl, None, None]
            dy = coords[None, :, None] - item["ay"][sl, None, None]
            ux, uy = item["ux"][sl, None, None], item["uy"][sl, None, None]
            along = dx * ux + dy * uy  # coordinates in the stroke's frame
            across = dy * ux - dx * uy
            beyond = along - np.clip(along, 0.0, item["length"][sl, None, None])
            dist = np.sqrt(beyond * beyond + across * across)
            dist -= item["half_width"][sl, None, None]
            _blend(img, dist, item["color"][sl])

        inst_chunk = inst[sl] if inst is not None else None
        for m, slot in enumerate(slots):
            dist = np.full((k, size, size), np.inf, f32)
            for kind in range(num_classes):
                idx = np.flatnonzero(slot["active"][sl] & (slot["kind"][sl] == kind))
                if idx.size == 0:
                    continue
                j = idx + start
                dist[idx] = _shape_distance(
                    kind + kind_offset, coords[None, None, :] - slot["cx"][j, None, None], coords[None, :, None] - slot["cy"][j, None, None],
                    slot["radius"][j, None, None], slot["c"][j, None, None], slot["s"][j, None, None],
                )
            _blend(img, dist, slot["color"][sl])
            if inst_chunk is not None:
                inst_chunk[dist <= 0] = m + 1
            if style.occlusion > 0:
                dx = np.abs(coords[None, None, :] - slot["occ_cx"][sl, None, None])
                dy = np.abs(coords[None, :, None] - slot["occ_cy"][sl, None, None])
                occ = np.maximum(dx, dy) - slot["occ_half"][sl, None, None]
                occ[~slot["active"][sl]] = np.inf
                _blend(img, occ, slot["occ_color"][sl])
                if inst_chunk is not None:
                    inst_chunk[occ <= 0] = 0

        if style.noise > 0:  # uniform noise with standard deviation `noise`
            u = noise_rng.random(img.shape, dtype=f32)
            img += (u - f32(0.5)) * f32(style.noise * math.sqrt(12.0))
        np.clip(img * f32(255) + f32(0.5), 0, 255, out=img)
        images[sl] = img.astype(np.uint8)

    labels = np.stack([np.where(sl_["active"], sl_["kind"], -1) for sl_ in slots], axis=1).astype(np.int64)
    return ShapeScenes(images=images, labels=labels, instance_map=inst)


# ---------------------------------------------------------------------------------------------
# Torch views of scenes with several shapes: detection and segmentation.

def boxes_from_instance_map(instance_map: np.ndarray, num_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Tight XYXY boxes around the pixels of each instance.

    instance_map: (N, H, W) with 0 = background and m + 1 = slot m. Returns boxes (N, M, 4)
    float32 in pixel-edge coordinates (a box around pixel column j spans [j, j + 1]) and
    present (N, M) bool (False where an instance has no visible pixel).
    """
    n, height, width = instance_map.shape
    boxes = np.zeros((n, num_slots, 4), np.float32)
    present = np.zeros((n, num_slots), bool)
    for m in range(num_slots):
        mask = instance_map == m + 1
        rows, cols = mask.any(2), mask.any(1)  # (N, H), (N, W)
        present[:, m] = rows.any(1)
        boxes[:, m, 0] = cols.argmax(1)
        boxes[:, m, 1] = rows.argmax(1)
        boxes[:, m, 2] = width - cols[:, ::-1].argmax(1)
        boxes[:, m, 3] = height - rows[:, ::-1].argmax(1)
    return boxes, present


class ShapesScenes(Dataset):
    """Images with 1..``max_objects`` shapes, for detection or segmentation (see ``load_dataset``).

    Item ``i`` is ``(image, target)``: image a ``tv_tensors.Image`` (3, H, W) float32 in
    [0, 1]; target has ``"boxes"`` (``tv_tensors.BoundingBoxes`` XYXY, (K, 4)) and
    ``"labels"`` (int64 (K,), 1..num_classes; 0 is kept for the background), and for
    ``task="segmentation"`` also ``"mask"`` (``tv_tensors.Mask`` (H, W) int64 class per pixel,
    0 = background) and ``"masks"`` (``tv_tensors.Mask`` (K, H, W) bool, one per shape).
    ``transform(image, target)`` is applied to both, so a transforms v2 pipeline moves the
    boxes and masks with the image (add ``v2.SanitizeBoundingBoxes()`` after crops).
    Batch with ``DataLoader(..., collate_fn=collate_detection)``.
    """

    def __init__(self, scenes: ShapeScenes, *, task: str = "detection", transform=None):
        if task not in ("detection", "segmentation"):
            raise ValueError(f"task must be 'detection' or 'segmentation', not {task!r}")
        if scenes.instance_map is None:
            raise ValueError("scenes need an instance_map (generate_shapes(..., instance_map=True))")
        self.task, self.transform = task, transform
        self.classes = list(SHAPE_CLASSES)
        self.images = scenes.images  # (N, 3, H, W) uint8
        self.instance_map = scenes.instance_map  # (N, H, W) uint8
        boxes, present = boxes_from_instance_map(scenes.instance_map, scenes.labels.shape[1])
        present &= scenes.labels >= 0
        self._slots = [np.flatnonzero(p) for p in present]  # visible instances of each image
        self._boxes = [boxes[i, s] for i, s in enumerate(self._slots)]
        self._labels = [scenes.labels[i, s] + 1 for i, s in enumerate(self._slots)]

    @property
    def num_classes(self) -> int:
        """Classes including the background, as torchvision's detection models count them."""
        return len(self.classes) + 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        height, width = self.images.shape[-2:]
        image = tv_tensors.Image(torch.from_numpy(self.images[i]).float().div_(255))
        target = {
            "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(self._boxes[i].copy()), format="XYXY",
                                              canvas_size=(height, width)),
            "labels": torch.from_numpy(self._labels[i].copy()),
        }
        if self.task == "segmentation":
            ids = torch.from_numpy(self.instance_map[i].astype(np.int64))
            slot_ids = torch.from_numpy(self._slots[i] + 1)
            masks = ids[None] == slot_ids[:, None, None]  # (K, H, W)
            semantic = torch.zeros((height, width), dtype=torch.int64)
            for mask, label in zip(masks, target["labels"]):
                semantic[mask] = label
            target["mask"] = tv_tensors.Mask(semantic)
            target["masks"] = tv_tensors.Mask(masks)
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target


def collate_detection(batch):
    """Keep images and targets as tuples (detection models take lists of differently sized targets)."""
    return tuple(zip(*batch))
