"""Lab 09 · Visualising and fooling networks: points per task and hidden cases (instructors only).

Hidden cases use other seeds, widths, image sizes and layers: non-square images, a single image,
an occlusion window that does not fit the image an integer number of strides, a baseline of 1,
Grad-CAM on the first block, other target classes and step counts, epsilons of 0 and 0.3.
"""
from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab09 import (attack_inputs, images_inputs, random_attack_inputs, trained_inputs,
                                            training_inputs)

# Seconds a submission may run (cvcourse grade --timeout overrides it). The solution graded in 105 s in fast mode
# on the 2-core machine at load 8-10 (2026-12-06): the course-wide 120 s would give correct work 0 on a busy grader.
TIMEOUT = 240

POINTS = {
    "saliency_map": 2,
    "occlusion_map": 2,
    "grad_cam": 2,
    "class_visualisation": 2,
    "fgsm_attack": 2,
    "targeted_attack": 2,
    "accuracy_under_attack": 1,
    "adversarial_training_step": 2,
}

HIDDEN = {
    "saliency_map": (
        Case("SmallCNN (width 8), one 24x40 image", lambda rng: images_inputs(rng, "small_cnn", 8, 11, 1, 24) [:3]
             + (rng.random((1, 3, 24, 40)).astype("float32"), rng.integers(0, 5, size=1)), seed=901),
        Case("CifarResNet (width 2), 5 images of 32x32", lambda rng: images_inputs(rng, "resnet", 2, 12, 5), seed=902),
    ),
    "occlusion_map": (
        Case("SmallCNN, 16x16, window 4, stride 4 (no overlap), baseline 1", lambda rng: images_inputs(rng, "small_cnn", 4, 13, 3, 16, 4, 4, 1.0),
             seed=903),
        Case("CifarResNet, 20x20, window 7, stride 2, baseline 0.25", lambda rng: images_inputs(rng, "resnet", 2, 14, 1, 20, 7, 2, 0.25),
             seed=904),
    ),
    "grad_cam": (
        Case("SmallCNN, first block (16x16 maps)", lambda rng: images_inputs(rng, "small_cnn", 4, 15, 2, 32, 0), seed=905),
        Case("CifarResNet, last stage (8x8 maps), 4 images", lambda rng: images_inputs(rng, "resnet", 4, 16, 4, 32, 3), seed=906),
        Case("CifarResNet, stem (full resolution), 24x24", lambda rng: images_inputs(rng, "resnet", 2, 17, 2, 24, 0), seed=907),
    ),
    "class_visualisation": (
        Case("class 0 (circle), 60 steps", lambda rng: (0, 60)),
        Case("class 4 (cross), 100 steps", lambda rng: (4, 100)),
    ),
    "fgsm_attack": (
        Case("SmallCNN (width 8), 6 images, eps = 2/255", lambda rng: attack_inputs(rng, "small_cnn", 8, 21, 6, 2 / 255), seed=911),
        Case("CifarResNet, one image, eps = 0.3 (much clipping)", lambda rng: attack_inputs(rng, "resnet", 4, 22, 1, 0.3), seed=912),
        Case("eps = 0 leaves the images as they are", lambda rng: attack_inputs(rng, "small_cnn", 4, 23, 2, 0.0), seed=913),
    ),
    "targeted_attack": (
        Case("make every shape a circle: eps = 0.2, alpha = 0.02, 20 steps", lambda rng: (0, 0.2, 0.02, 20)),
        Case("make every shape a triangle: eps = 0.2, alpha = 0.01, 40 steps", lambda rng: (2, 0.2, 0.01, 40)),
    ),
    "accuracy_under_attack": (
        Case("the trained CNN, eps = 0.3, 0.1, 0.03", lambda rng: trained_inputs(rng, (0.3, 0.1, 0.03))),
        Case("CifarResNet (random weights), 30 images, one eps", lambda rng: random_attack_inputs(rng, "resnet", 4, 24, 30, (0.02,)),
             seed=921),
    ),
    "adversarial_training_step": (
        Case("SmallCNN (width 8), 16 images, eps = 0.1, lr 0.05", lambda rng: training_inputs(rng, 8, 31, 16, 0.1, 0.05), seed=931),
        Case("eps = 0 is an ordinary training step", lambda rng: training_inputs(rng, 4, 32, 4, 0.0, 0.1), seed=932),
    ),
}
