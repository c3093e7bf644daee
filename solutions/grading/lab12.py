"""Lab 12 · Self-supervised learning: points per task and hidden cases (instructors only)."""
from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab12 import (
    blob_inputs,
    digits_inputs,
    dino_inputs,
    embeddings,
    knn_inputs,
    mae_inputs,
    pair_inputs,
    step_inputs,
    view_inputs,
)

# The solution grades in 87 s in fast mode (self-test at load 14.6 on the shared 2-core machine, 2026-12-06), most of
# it the SimCLR epoch and the no-negatives run; the course-wide 120 s would leave no margin on a busy grader.
TIMEOUT = 300

POINTS = {
    "augment_views": 2,
    "nt_xent_loss": 2,
    "simclr_step": 2,
    "knn_classify": 1,
    "linear_probe_accuracy": 2,
    "embedding_spread": 2,
    "is_collapsed_embedding": 1,
    "ema_update": 1,
    "dino_loss": 2,
    "update_center": 1,
    "random_masking": 2,
    "mae_loss": 1,
}

HIDDEN = {
    "augment_views": (
        Case("a single image, seed 3", lambda rng: view_inputs(rng, 1, 32, 3), seed=101),
        Case("5 digits-sized images 28x28, seed 11", lambda rng: view_inputs(rng, 5, 28, 11), seed=102),
    ),
    "nt_xent_loss": (
        Case("one pair: no negatives, the loss is 0", lambda rng: pair_inputs(rng, 1, 4, 0.5), seed=103),
        Case("32 pairs, 64 dimensions, temperature 0.07", lambda rng: pair_inputs(rng, 32, 64, 0.07), seed=104),
        Case("temperature 1, tiny vectors (scale 1e-3)", lambda rng: pair_inputs(rng, 6, 5, 1.0, 1e-3), seed=105),
    ),
    "simclr_step": (
        Case("two steps, 3 images 7x7, temperature 1, lr 0.2", lambda rng: step_inputs(rng, 3, 7, 5, 1.0, 0.2), seed=106),
        Case("two steps, 10 images 4x4, temperature 0.1", lambda rng: step_inputs(rng, 10, 4, 6, 0.1, 0.01), seed=107),
    ),
    "knn_classify": (
        Case("k = N: every training point votes, T = 1", lambda rng: knn_inputs(rng, 25, 12, 4, 2, 25, 1.0), seed=108),
        Case("7 classes, k = 10, T = 0.07", lambda rng: knn_inputs(rng, 140, 40, 16, 7, 10, 0.07), seed=109),
    ),
    "linear_probe_accuracy": (
        Case("digits: 64 pixels, 10 classes", lambda rng: digits_inputs(rng), seed=110),
        Case("3 blobs in 2 dimensions, overlapping", lambda rng: blob_inputs(rng, 300, 300, 2, 3, 1.0), seed=111),
    ),
    "embedding_spread": (
        Case("every row the same: effective rank 0", lambda rng: embeddings(rng, "equal", 20, 5), seed=112),
        Case("two opposite points: effective rank 1", lambda rng: embeddings(rng, "line", 40, 7), seed=113),
        Case("healthy, 500 x 32", lambda rng: embeddings(rng, "healthy", 500, 32), seed=114),
    ),
    "is_collapsed_embedding": (
        Case("a plane, with min_rank 4: collapsed", lambda rng: (*embeddings(rng, "plane", 200, 16), 0.03, 4.0), seed=115),
        Case("healthy, but min_std_ratio 1.5: collapsed", lambda rng: (*embeddings(rng, "healthy", 300, 8), 1.5, 2.0),
             seed=116),
        Case("healthy 16-D, min_rank 20 > D: collapsed", lambda rng: (*embeddings(rng, "healthy", 300, 16), 0.03, 20.0),
             seed=117),
        Case("a plane with the default thresholds", lambda rng: (*embeddings(rng, "plane", 200, 16), 0.03, 1.5), seed=118),
    ),
    "ema_update": (
        Case("momentum 0: the teacher becomes the student", lambda rng: (4, 5, 0.0)),
        Case("momentum 1: the teacher stays", lambda rng: (6, 7, 1.0)),
        Case("momentum 0.5", lambda rng: (8, 9, 0.5)),
    ),
    "dino_loss": (
        Case("one image, 2 views, 3 prototypes", lambda rng: dino_inputs(rng, 2, 1, 3, 0.1, 0.04), seed=119),
        Case("2 global + 4 local views, temperatures 0.2 / 0.07", lambda rng: dino_inputs(rng, 6, 5, 12, 0.2, 0.07),
             seed=120),
    ),
    "update_center": (
        Case("momentum 0: the mean output", lambda rng: (rng.normal(size=4), rng.normal(size=(2, 3, 4)), 0.0), seed=121),
        Case("6 views, momentum 0.996", lambda rng: (rng.normal(size=9), rng.normal(size=(6, 7, 9)), 0.996), seed=122),
    ),
    "random_masking": (
        Case("4 images of 49 patches, 80% masked", lambda rng: (rng.normal(size=(4, 49, 2)), 0.8, 5), seed=123),
        Case("mask_ratio 0: every patch kept", lambda rng: (rng.normal(size=(1, 7, 3)), 0.0, 6), seed=124),
    ),
    "mae_loss": (
        Case("every patch masked", lambda rng: mae_inputs(rng, 2, 5, 3, 5, False), seed=125),
        Case("norm_pix, one image, one masked patch", lambda rng: mae_inputs(rng, 1, 6, 8, 1, True), seed=126),
    ),
}
