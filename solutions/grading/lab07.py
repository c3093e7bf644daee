"""Lab 07 · Semantic segmentation: points per task and hidden cases (instructors only).

Hidden cases use other seeds and sizes than the public ones, plus edge cases: a stride
larger than the kernel (gaps between the stamped copies), 1x1 kernels, several channels in
and out, output padding with stride 3, odd up-sampling factors (their kernel has odd size),
confusion matrices with ignored pixels and classes never predicted, a single class, networks
with other channel counts and widths (and trained from another seed), and training with another learning rate
and batch size.
"""
from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab07 import architecture_case, confusion_inputs, conv_transpose_inputs, matrix_inputs, upsample_inputs

# Seconds a submission may run (cvcourse grade --timeout overrides it). The solution graded in 95 s in fast mode
# on the 2-core machine at load 8-10 (2026-12-06): the course-wide 120 s would give correct work 0 on a busy grader.
TIMEOUT = 240

POINTS = {
    "conv_transpose2d_scatter": 3,
    "bilinear_kernel": 2,
    "segmentation_confusion": 2,
    "iou_per_class": 2,
    "dice_per_class": 1,
    "build_fcn": 3,
    "build_unet": 3,
    "train_segmenter": 2,
}

# (n, c_in, h, w, c_out, kh, kw, stride, padding, output_padding)
_TRANSPOSE_SIZES = (
    ("2x2x3x3 input, 2 -> 3 channels, 2x2 kernel, stride 3 (stride larger than the kernel)", (2, 2, 3, 3, 3, 2, 2, 3, 0, 0), 301),
    ("1x3x4x5 input, 3 -> 4 channels, 1x1 kernel, stride 2", (1, 3, 4, 5, 4, 1, 1, 2, 0, 0), 302),
    ("3x4x5x5 input, 4 -> 5 channels, 3x3 kernel, stride 1, padding 1 (same size)", (3, 4, 5, 5, 5, 3, 3, 1, 1, 0), 303),
    ("1x2x4x4 input, 2 -> 2 channels, 5x5 kernel, stride 3, padding 2, output_padding 2", (1, 2, 4, 4, 2, 5, 5, 3, 2, 2), 304),
    ("2x1x1x1 input, 1 -> 3 channels, 4x4 kernel, stride 2 (one pixel stamps the kernel)", (2, 1, 1, 1, 3, 4, 4, 2, 0, 0), 305),
    ("1x2x6x3 input, 2 -> 1 channel, 2x4 kernel, stride 2, padding 1, output_padding 1", (1, 2, 6, 3, 1, 2, 4, 2, 1, 1), 306),
)

HIDDEN = {
    "conv_transpose2d_scatter": tuple(Case(name, lambda rng, s=s: conv_transpose_inputs(rng, *s), seed=seed)
                                      for name, s, seed in _TRANSPOSE_SIZES),
    "bilinear_kernel": (
        Case("factor 3 (5x5 kernel, odd size), 1x2x5x6 images", lambda rng: upsample_inputs(rng, 1, 2, 5, 6, 3), seed=401),
        Case("factor 8 (16x16 kernel), 1x1x4x4 images", lambda rng: upsample_inputs(rng, 1, 1, 4, 4, 8), seed=402),
        Case("factor 5 (9x9 kernel), 2x1x4x5 images", lambda rng: upsample_inputs(rng, 2, 1, 4, 5, 5), seed=403),
    ),
    "segmentation_confusion": (
        Case("four 10x7 maps, 3 classes, 30% ignored", lambda rng: confusion_inputs(rng, (4, 10, 7), 3, ignore_fraction=0.3), seed=501),
        Case("one 5x5 map, 2 classes, perfect prediction", lambda rng: confusion_inputs(rng, (1, 5, 5), 2, accuracy=1.0), seed=502),
        Case("two 9x9 maps, 8 classes, classes 0 and 5 absent", lambda rng: confusion_inputs(rng, (2, 9, 9), 8, absent=(0, 5)), seed=503),
        Case("a 12x12 map of 6 classes given as one image (H, W)", lambda rng: confusion_inputs(rng, (12, 12), 6, ignore_fraction=0.05), seed=504),
    ),
    "iou_per_class": (
        Case("8 classes, classes 1 and 6 absent", lambda rng: matrix_inputs(rng, (3, 10, 10), 8, absent=(1, 6)), seed=601),
        Case("5 classes, class 3 in the truth but never predicted (IoU 0)",
             lambda rng: matrix_inputs(rng, (2, 8, 8), 5, never_predicted=(3,)), seed=602),
        Case("3 classes, perfect prediction", lambda rng: matrix_inputs(rng, (1, 6, 6), 3, accuracy=1.0), seed=603),
        Case("2 classes, poor prediction", lambda rng: matrix_inputs(rng, (1, 20, 20), 2, accuracy=0.2), seed=604),
    ),
    "dice_per_class": (
        Case("7 classes, classes 0 and 2 absent", lambda rng: matrix_inputs(rng, (3, 10, 10), 7, absent=(0, 2)), seed=701),
        Case("4 classes, class 1 never predicted (Dice 0)", lambda rng: matrix_inputs(rng, (2, 8, 8), 4, never_predicted=(1,)), seed=702),
        Case("3 classes, perfect prediction", lambda rng: matrix_inputs(rng, (1, 6, 6), 3, accuracy=1.0), seed=703),
    ),
    "build_fcn": (
        architecture_case("2 -> 3 classes, width 6", 2, 3, 6, 801, 0),
        architecture_case("3 -> 6 classes, width 8, trained briefly (another seed)", 3, 6, 8, 802, 1),
    ),
    "build_unet": (
        architecture_case("2 -> 3 classes, width 6", 2, 3, 6, 901, 0),
        architecture_case("3 -> 6 classes, width 8, trained briefly (another seed)", 3, 6, 8, 902, 1),
    ),
    "train_segmenter": (
        Case("Adam lr 1e-2, batch 8, 5 epochs on 256 scenes", lambda rng: (5, 1e-2, 8, 0.0, 256, 4)),
        Case("Adam lr 5e-3, dice_weight 0.5, 4 epochs on 320 scenes", lambda rng: (4, 5e-3, 8, 0.5, 320, 3)),
    ),
}
