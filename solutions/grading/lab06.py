"""Lab 06 · Attention and transformers: points per task and hidden cases (instructors only).

Hidden cases use other seeds and sizes than the public ones, plus edge cases: a single key,
masks that leave each query exactly one key, random masks over several heads (4-D inputs),
cross-attention with a single head or a single query, one-token sequences, patches as large as
the image, odd dimensions of the sinusoidal encoding's frequencies, a batch of one pair in the
CLIP loss, class lists in another order, and shifted-window masks on rectangular maps, a single window,
shifts other than half a window and windows of one patch.
"""
from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab06 import (
    attention_inputs,
    block_inputs,
    clip_inputs,
    mha_inputs,
    patch_inputs,
)

POINTS = {
    "scaled_dot_product_attention_scratch": 2,
    "multi_head_attention": 3,
    "patch_embed": 2,
    "sinusoidal_positions": 1,
    "encoder_block": 3,
    "build_vit": 2,
    "shifted_window_mask": 2,
    "clip_loss": 2,
    "zero_shot_classify": 2,
}

HIDDEN = {
    "scaled_dot_product_attention_scratch": (
        Case("a single key: (2, 4, 6) queries, (2, 1, 6) keys", lambda rng: attention_inputs(rng, (2,), 4, 1, 6, 3), seed=101),
        Case("masks that leave each query exactly one key", lambda rng: attention_inputs(rng, (3,), 5, 7, 4, 2, "one_key"),
             seed=102),
        Case("random masks over heads: (2, 3, 6, 9, 8)", lambda rng: attention_inputs(rng, (2, 3), 6, 9, 8, 5, "random"),
             seed=103),
        Case("one query, 11 keys, d = 16", lambda rng: attention_inputs(rng, (1,), 1, 11, 16, 4), seed=104),
        Case("causal mask, 8 tokens, d = 2", lambda rng: attention_inputs(rng, (4,), 8, 8, 2, 6, "causal"), seed=105),
    ),
    "multi_head_attention": (
        Case("one head (plain attention with projections)", lambda rng: mha_inputs(rng, 3, 4, 4, 6, 1, seed=11), seed=111),
        Case("8 heads of size 2, 10 tokens", lambda rng: mha_inputs(rng, 1, 10, 10, 16, 8, seed=12), seed=112),
        Case("cross-attention, one query, 5 keys", lambda rng: mha_inputs(rng, 2, 1, 5, 8, 2, seed=13, self_attention=False),
             seed=113),
        Case("one token", lambda rng: mha_inputs(rng, 2, 1, 1, 4, 2, seed=14), seed=114),
    ),
    "patch_embed": (
        Case("4 RGB images 12x12, patches 2x2, dim 3", lambda rng: patch_inputs(rng, 4, 3, 12, 12, 2, 3), seed=121),
        Case("one patch as large as the image (8x8)", lambda rng: patch_inputs(rng, 2, 2, 8, 8, 8, 7), seed=122),
        Case("1x1 patches (every pixel a token)", lambda rng: patch_inputs(rng, 1, 3, 3, 5, 1, 4), seed=123),
    ),
    "sinusoidal_positions": (
        Case("1 position, dim 4", lambda rng: (1, 4)),
        Case("65 positions, dim 64", lambda rng: (65, 64)),
        Case("17 positions, dim 6", lambda rng: (17, 6)),
    ),
    "encoder_block": (
        Case("batch 3, one token, dim 8, 4 heads, MLP 8", lambda rng: block_inputs(rng, 3, 1, 8, 4, 8, seed=21), seed=131),
        Case("batch 2, 17 tokens, dim 16, 1 head, MLP 64", lambda rng: block_inputs(rng, 2, 17, 16, 1, 64, seed=22), seed=132),
        Case("batch 1, 6 tokens, dim 10, 5 heads, MLP 30", lambda rng: block_inputs(rng, 1, 6, 10, 5, 30, seed=23), seed=133),
    ),
    "build_vit": (
        Case("grey 28x28 images, patches 7x7, dim 24, depth 3, 3 heads (wiring only)",
             lambda rng: (28, 7, 1, 10, 24, 3, 3, False)),
        Case("RGB 16x16 images, patches 4x4, 4 classes, dim 8, depth 2, 1 head (wiring only)",
             lambda rng: (16, 4, 3, 4, 8, 2, 1, False)),
    ),
    "shifted_window_mask": (
        Case("a rectangular map: 8x12 patches, windows 4x4, shift 2", lambda rng: (8, 12, 4, 2)),
        Case("one window (4x4 map, window 4), shift 2: four regions", lambda rng: (4, 4, 4, 2)),
        Case("12x6 patches, windows 3x3, shift 2 (not half a window)", lambda rng: (12, 6, 3, 2)),
        Case("windows of one patch, no shift", lambda rng: (3, 5, 1, 0)),
    ),
    "clip_loss": (
        Case("a batch of one pair", lambda rng: clip_inputs(rng, 1, 8, 0.07), seed=141),
        Case("batch 33, dim 5, temperature 0.01 (sharp)", lambda rng: clip_inputs(rng, 33, 5, 0.01), seed=142),
        Case("batch 8, features far from unit length", lambda rng: clip_inputs(rng, 8, 16, 0.5, scale=50.0), seed=143),
    ),
    "zero_shot_classify": (
        Case("30 images, five shapes in another order, 'a {}'",
             lambda rng: (2, 30, ("cross", "star", "triangle", "square", "circle"), "a {}")),
        Case("one image, two classes", lambda rng: (3, 1, ("square", "triangle"), "a drawing of a {}")),
    ),
}
