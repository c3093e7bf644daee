"""Lab 10 · Generative adversarial networks: points per task and hidden cases (instructors only).

Hidden cases use other seeds and sizes, plus edge cases: logits so large that a naive
log(sigmoid(x)) overflows (the losses must be computed stably), a single logit, other latent
sizes, widths and class counts, a conditional training step and training run, and Fréchet
distances between identical sets (zero), in one dimension and between sets of different sizes.
"""
import numpy as np

from cvcourse_utils.checking import Case
from cvcourse_utils.labchecks.lab10 import feature_pair, logits_inputs

# Seconds a submission may run (cvcourse grade --timeout overrides it). The solution graded in 156 s in fast mode
# on the 2-core machine at load 8-10 (2026-12-06): the course-wide 120 s would give correct work 0 on a busy grader.
TIMEOUT = 300

POINTS = {
    "discriminator_loss": 1,
    "generator_loss_minimax": 1,
    "generator_loss_nonsaturating": 1,
    "dcgan_generator": 2,
    "dcgan_discriminator": 2,
    "gan_train_step": 3,
    "train_gan": 2,
    "conditional_generator": 2,
    "conditional_discriminator": 2,
    "frechet_distance": 2,
}


def _huge(*sizes):
    """Logits of size up to +-60: exp(60) overflows float32 and log(1 - sigmoid(60)) is -inf if done naively."""
    return lambda rng: tuple(np.concatenate([rng.normal(0, 2, size=n - 2), [60.0, -60.0]]) for n in sizes)


HIDDEN = {
    "discriminator_loss": (
        Case("16 real and 4 fake logits", lambda rng: logits_inputs(rng, 16, 4), seed=101),
        Case("one real and one fake logit", lambda rng: logits_inputs(rng, 1, 1), seed=102),
        Case("logits of +-60 (compute the loss stably)", _huge(6, 6), seed=103),
    ),
    "generator_loss_minimax": (
        Case("25 fake logits, spread wide", lambda rng: logits_inputs(rng, 25, scale=5.0), seed=111),
        Case("logits of +-60 (compute the loss stably)", _huge(5), seed=112),
    ),
    "generator_loss_nonsaturating": (
        Case("25 fake logits, spread wide", lambda rng: logits_inputs(rng, 25, scale=5.0), seed=121),
        Case("logits of +-60 (compute the loss stably)", _huge(5), seed=122),
        Case("a single logit", lambda rng: logits_inputs(rng, 1), seed=123),
    ),
    "dcgan_generator": (
        Case("latent_dim 64, width 8, a batch of 2", lambda rng: (64, 0, 8, 2)),
        Case("latent_dim 2, width 24, a batch of 5", lambda rng: (2, 0, 24, 5)),
    ),
    "dcgan_discriminator": (
        Case("width 8, a batch of 2", lambda rng: (0, 8, 2)),
        Case("width 48, a batch of 5", lambda rng: (0, 48, 5)),
    ),
    "gan_train_step": (
        Case("a batch of 32, unconditional, another seed", lambda rng: (7, 32, 0)),
        Case("a batch of 12, conditional on 4 classes", lambda rng: (8, 12, 4)),
    ),
    "train_gan": (
        Case("60 steps, a snapshot every 30, conditional on the 10 digits", lambda rng: (60, 30, 10, 3)),
    ),
    "conditional_generator": (
        Case("latent_dim 16, 2 classes, width 8, a batch of 2", lambda rng: (16, 2, 8, 2)),
        Case("latent_dim 4, 7 classes, width 24, a batch of 7", lambda rng: (4, 7, 24, 7)),
    ),
    "conditional_discriminator": (
        Case("2 classes, width 8, a batch of 2", lambda rng: (2, 8, 2)),
        Case("7 classes, width 24, a batch of 7", lambda rng: (7, 24, 7)),
    ),
    "frechet_distance": (
        Case("identical sets of 100 features in 5-d (distance 0)",
             lambda rng: (lambda a: (a, a.copy()))(feature_pair(rng, 100, 1, 5)[0]), seed=131),
        Case("one-dimensional features, 50 and 80 of them", lambda rng: feature_pair(rng, 50, 80, 1, shift=2.0, stretch=0.5), seed=132),
        Case("500 and 400 features in 16-d, shifted and stretched",
             lambda rng: feature_pair(rng, 500, 400, 16, shift=-0.3, stretch=1.2), seed=133),
    ),
}
