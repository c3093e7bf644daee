"""Lab 05 · CNN architectures and transfer learning: points per task and hidden cases (instructors only).

Hidden cases use other seeds, sizes and strides than the public ones, plus edge cases: odd spatial
sizes under stride 2 (PyTorch rounds up), a single image in training mode, a bottleneck whose input
already has 4x its planes, SE with a squeeze to one channel, grouped convolutions that are not
depthwise, non-square inputs, other networks for the FLOP count, a single query and k larger than
some classes for recall@k, margins that no triplet satisfies.
"""
from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab05 import block_inputs, retrieval_inputs, triplet_inputs

POINTS = {
    "basic_block": 2,
    "bottleneck_block": 2,
    "depthwise_separable_block": 2,
    "squeeze_excitation": 1,
    "conv_flops": 2,
    "network_flops": 2,
    "linear_probe_model": 2,
    "finetune_param_groups": 1,
    "triplet_loss": 2,
    "recall_at_k": 2,
}

HIDDEN = {
    "basic_block": (
        Case("32 -> 32 channels, stride 1, 4x32x5x7", lambda rng: block_inputs(rng, 32, 32, 1, 4, 5, 7, seed=11), seed=501),
        Case("16 -> 32 channels, stride 2, odd size 2x16x7x7", lambda rng: block_inputs(rng, 16, 32, 2, 2, 7, 7, seed=12), seed=502),
        Case("8 -> 24 channels, stride 1 (projection for the channels only)",
             lambda rng: block_inputs(rng, 8, 24, 1, 2, 6, 6, seed=13), seed=503),
        Case("16 -> 16 channels, stride 2 (projection for the stride only)",
             lambda rng: block_inputs(rng, 16, 16, 2, 3, 8, 8, seed=14), seed=504),
    ),
    "bottleneck_block": (
        Case("128 -> 32 planes (128 out), stride 1, 2x128x4x4", lambda rng: block_inputs(rng, 128, 32, 1, 2, 4, 4, seed=21), seed=511),
        Case("64 -> 32 planes (128 out), stride 2, odd size 2x64x7x5",
             lambda rng: block_inputs(rng, 64, 32, 2, 2, 7, 5, seed=22), seed=512),
        Case("8 -> 4 planes (16 out), stride 1, 3x8x6x6", lambda rng: block_inputs(rng, 8, 4, 1, 3, 6, 6, seed=23), seed=513),
    ),
    "depthwise_separable_block": (
        Case("32 -> 32 channels, stride 1, 2x32x6x6", lambda rng: block_inputs(rng, 32, 32, 1, 2, 6, 6, seed=31), seed=521),
        Case("8 -> 24 channels, stride 2, odd size 3x8x9x7", lambda rng: block_inputs(rng, 8, 24, 2, 3, 9, 7, seed=32), seed=522),
        Case("24 -> 8 channels, stride 1 (fewer out than in)", lambda rng: block_inputs(rng, 24, 8, 1, 2, 5, 5, seed=33), seed=523),
    ),
    "squeeze_excitation": (
        Case("8 channels squeezed to 1, 2x8x3x3", lambda rng: block_inputs(rng, 8, 1, 1, 2, 3, 3, seed=41), seed=531),
        Case("64 channels squeezed to 16, 2x64x7x7", lambda rng: block_inputs(rng, 64, 16, 1, 2, 7, 7, seed=42), seed=532),
        Case("12 channels squeezed to 12 (no bottleneck), one image", lambda rng: block_inputs(rng, 12, 12, 1, 1, 4, 4, seed=43), seed=533),
    ),
    "conv_flops": (
        Case("1 -> 6 channels, 5x5, no padding, bias, 32x32 (LeNet's C1)", lambda rng: (1, 6, 5, 1, 0, 1, True, 32, 32)),
        Case("3 -> 64 channels, 7x7, stride 2, pad 3, 224x224 (ResNet's stem)", lambda rng: (3, 64, 7, 2, 3, 1, False, 224, 224)),
        Case("64 -> 128 channels, 3x3, groups 32 (ResNeXt), stride 2, pad 1, odd size 15x15",
             lambda rng: (64, 128, 3, 2, 1, 32, False, 15, 15)),
        Case("16 -> 8 channels, 3x3, stride 3, no padding, non-square 20x11, bias", lambda rng: (16, 8, 3, 3, 0, 1, True, 20, 11)),
        Case("8 -> 8 channels, 1x1, bias, 1x1 image", lambda rng: (8, 8, 1, 1, 0, 1, True, 1, 1)),
    ),
    "network_flops": (
        Case("CifarResNet (1 block per stage, width 8) on 3x32x32", lambda rng: ("cifar_resnet", (3, 32, 32))),
        Case("MobileNetV2 (width 0.35) on 3x64x64", lambda rng: ("mobilenet_v2", (3, 64, 64))),
        Case("SmallCNN (width 8) on non-square 3x40x24", lambda rng: ("small_cnn", (3, 40, 24))),
        Case("the depthwise-separable stack on odd, non-square 3x33x17", lambda rng: ("depthwise_stack", (3, 33, 17))),
    ),
    "linear_probe_model": (
        Case("10 new classes on a width-8 CifarResNet", lambda rng: (10, 8, 5)),
        Case("2 new classes on a width-2 CifarResNet", lambda rng: (2, 2, 6)),
    ),
    "finetune_param_groups": (
        Case("backbone lr 0 (frozen in effect), head lr 0.1", lambda rng: (0.0, 0.1, 8, 2)),
        Case("the same lr for both, 1e-3", lambda rng: (1e-3, 1e-3, 2, 3)),
        Case("backbone lr 1e-5, head lr 1e-3, width 16", lambda rng: (1e-5, 1e-3, 16, 4)),
    ),
    "triplet_loss": (
        Case("one triplet of 3-d embeddings, margin 0.5", lambda rng: triplet_inputs(rng, 1, 3, 0.5), seed=541),
        Case("64 triplets of 128-d embeddings, margin 2.0", lambda rng: triplet_inputs(rng, 64, 128, 2.0), seed=542),
        Case("32 triplets, tiny margin 1e-3, embeddings of scale 3", lambda rng: triplet_inputs(rng, 32, 8, 1e-3, scale=3.0), seed=543),
        Case("16 triplets, margin 10 (no triplet satisfied)", lambda rng: triplet_inputs(rng, 16, 16, 10.0, scale=0.5), seed=544),
    ),
    "recall_at_k": (
        Case("one query, 10 gallery items, k = 1, 3", lambda rng: retrieval_inputs(rng, 1, 10, 4, 3, (1, 3)), seed=551),
        Case("100 queries, 200 gallery items, 10 classes, k = 1, 5, 10",
             lambda rng: retrieval_inputs(rng, 100, 200, 16, 10, (1, 5, 10), spread=2.0), seed=552),
        Case("50 queries, 30 gallery items, 8 classes, k = 4, 30 (the whole gallery)",
             lambda rng: retrieval_inputs(rng, 50, 30, 8, 8, (4, 30), spread=3.0), seed=553),
        Case("25 queries, well separated classes, k = 1", lambda rng: retrieval_inputs(rng, 25, 60, 32, 5, (1,), spread=0.2), seed=554),
    ),
}
