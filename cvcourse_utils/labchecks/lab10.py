"""Lab 10 · Generative adversarial networks: the tasks, their public cases and library references.

The losses are checked against ``F.binary_cross_entropy_with_logits`` and the Fréchet distance
against torchmetrics' ``FrechetInceptionDistance`` (fed the features themselves). The models and
the training code have no single right answer, so their checks run the student's code and test
properties: output shapes and ranges, the DCGAN layer types, that the class label changes the
output, that one training step reports the right losses and that D's loss falls on a fixed batch
when only D steps, and that a short training run moves the samples towards the data. Two checks watch what the
student's code feeds the course's models (forward pre-hooks): a training run must draw fresh latents every step and
hand D each real image with its own label; and a conditional D must score the pair, not add a bias per class (the
change a label makes must depend on the image).
"""
from __future__ import annotations

import copy

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close

# --------------------------------------------------------------------------- losses


def logits_inputs(rng: np.random.Generator, *sizes: int, scale: float = 2.0) -> tuple:
    """One float64 logits vector per size, normal with standard deviation ``scale``."""
    return tuple(rng.normal(0.0, scale, size=n) for n in sizes)


def _tensors(fn, args):
    import torch

    return fn(*(torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in args))


def _bce(logits, target: float):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(logits, dtype=np.float64))
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


def _d_loss_reference(real_logits, fake_logits):
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def _g_minimax_reference(fake_logits):
    return -_bce(fake_logits, 0.0)  # E[log(1 - D(G(z)))]


def _g_nonsaturating_reference(fake_logits):
    return _bce(fake_logits, 1.0)  # -E[log D(G(z))]


# --------------------------------------------------------------------------- models: property checks

MIN_PARAMETERS, MAX_PARAMETERS = 2_000, 3_000_000


def _module(model, name: str):
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must return an nn.Module, got {type(model).__name__}")
    return model


def _layer_counts(model) -> dict:
    from torch import nn

    kinds = {"conv": nn.Conv2d, "conv_transpose": nn.ConvTranspose2d, "batchnorm": nn.modules.batchnorm._BatchNorm,
             "pooling": (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d),
             "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "embedding": nn.Embedding}
    counts = {key: sum(isinstance(m, kind) for m in model.modules()) for key, kind in kinds.items()}
    counts["strided_conv"] = sum(isinstance(m, nn.Conv2d) and max(m.stride) > 1 for m in model.modules())
    counts["parameters"] = sum(p.numel() for p in model.parameters())
    return counts


def run_generator(fn, args) -> dict:
    """Build the student's (conditional) generator, run it on random latents and report plain data."""
    import torch

    latent_dim, num_classes, width, batch = args
    torch.manual_seed(0)
    model = _module(fn(latent_dim, width) if num_classes == 0 else fn(latent_dim, num_classes, width),
                    "dcgan_generator" if num_classes == 0 else "conditional_generator")
    z = torch.randn(batch, latent_dim)
    labels = torch.arange(batch) % max(num_classes, 1)

    def forward(zz, yy):
        return model(zz) if num_classes == 0 else model(zz, yy)

    model.train()
    out = forward(z, labels)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    report = {"output_shape": list(out.shape), "min": float(out.min()), "max": float(out.max()),
              "all_parameters_get_gradient": bool(all(g is not None and g.abs().sum() > 0 for g in grads)),
              **_layer_counts(model)}
    model.eval()
    with torch.no_grad():
        first = forward(z, labels)
        report["eval_is_repeatable"] = bool(torch.equal(first, forward(z, labels)))
        if num_classes:
            same_z = z[:1].repeat(num_classes, 1)
            images = forward(same_z, torch.arange(num_classes))
            report["label_changes_output"] = float((images[1:] - images[:1]).abs().amax(dim=(1, 2, 3)).min())
    return report


def compare_generator(actual, expected, args) -> None:
    latent_dim, num_classes, width, batch = args
    shape = [int(s) for s in actual["output_shape"]]
    call = "G(z)" if num_classes == 0 else "G(z, labels)"
    if shape != [batch, 1, 28, 28]:
        raise CheckFailed(f"{call} with z of shape ({batch}, {latent_dim}) should give images ({batch}, 1, 28, 28), got {tuple(shape)}")
    if float(actual["min"]) < -1 - 1e-6 or float(actual["max"]) > 1 + 1e-6:
        raise CheckFailed(f"images must lie in [-1, 1] (end with nn.Tanh()); got values in [{float(actual['min']):.3g}, {float(actual['max']):.3g}]")
    if int(actual["tanh"]) == 0:
        raise CheckFailed("the DCGAN generator ends with nn.Tanh()")
    if int(actual["conv_transpose"]) < 1:
        raise CheckFailed("up-sample with nn.ConvTranspose2d (stride 2), as in DCGAN")
    if int(actual["batchnorm"]) < 1:
        raise CheckFailed("the DCGAN generator uses nn.BatchNorm2d after its hidden layers")
    if int(actual["pooling"]):
        raise CheckFailed("no pooling layers in a DCGAN: strided (transposed) convolutions change the size")
    params = int(actual["parameters"])
    if not MIN_PARAMETERS <= params <= MAX_PARAMETERS:
        raise CheckFailed(f"{params:,} parameters with width={width}: aim for between {MIN_PARAMETERS:,} and {MAX_PARAMETERS:,}")
    if not bool(actual["all_parameters_get_gradient"]):
        raise CheckFailed("some parameters get no gradient: is a layer unused, or the graph cut (.detach(), no_grad)?")
    if not bool(actual["eval_is_repeatable"]):
        raise CheckFailed("in eval mode two passes on the same latents differ: draw no noise inside forward")
    if num_classes:
        if int(actual["embedding"]) < 1:
            raise CheckFailed("embed the class label with nn.Embedding(num_classes, ...)")
        if float(actual["label_changes_output"]) < 1e-4:
            raise CheckFailed("with the same z, two different labels give the same image: feed the label's embedding in")


def run_discriminator(fn, args) -> dict:
    """Build the student's (conditional) discriminator, run it on random images and report plain data."""
    import torch

    num_classes, width, batch = args
    torch.manual_seed(0)
    model = _module(fn(width) if num_classes == 0 else fn(num_classes, width),
                    "dcgan_discriminator" if num_classes == 0 else "conditional_discriminator")
    x = (torch.rand(batch, 1, 28, 28) * 2 - 1).requires_grad_()
    labels = torch.arange(batch) % max(num_classes, 1)

    def forward(xx, yy):
        return model(xx) if num_classes == 0 else model(xx, yy)

    model.train()
    out = forward(x, labels)
    (out * 3.0).sum().backward()
    report = {"output_shape": list(out.shape), "input_gets_gradient": bool(x.grad is not None and x.grad.abs().sum() > 0),
              "output_range": [float(out.min()), float(out.max())], **_layer_counts(model)}
    model.eval()
    with torch.no_grad():
        first = forward(x, labels)
        report["eval_is_repeatable"] = bool(torch.equal(first, forward(x, labels)))
        if num_classes:
            same_x = x[:1].repeat(num_classes, 1, 1, 1)
            scores = forward(same_x, torch.arange(num_classes))
            report["label_changes_output"] = float((scores - scores[0]).abs().max())
            # every image with every label: a label that only adds a bias per class moves every image's score by
            # the same amount; a real conditional D scores the (image, label) pair, so the change depends on the image
            grid = torch.stack([forward(x, torch.full((batch,), c, dtype=torch.long)) for c in range(num_classes)], dim=1)
            grid = grid.double()
            interaction = grid - grid.mean(0, keepdim=True) - grid.mean(1, keepdim=True) + grid.mean()
            report["label_image_interaction"] = float(interaction.abs().max())
            report["label_effect"] = float((grid - grid.mean(1, keepdim=True)).abs().max())
    return report


def compare_discriminator(actual, expected, args) -> None:
    num_classes, width, batch = args
    shape = [int(s) for s in actual["output_shape"]]
    call = "D(x)" if num_classes == 0 else "D(x, labels)"
    if shape != [batch]:
        raise CheckFailed(f"{call} with x of shape ({batch}, 1, 28, 28) should give logits of shape ({batch},) "
                          f"(one score per image; .squeeze(1) a (N, 1) output), got {tuple(shape)}")
    if int(actual["sigmoid"]):
        raise CheckFailed("return logits, not probabilities: no nn.Sigmoid (the losses apply it, stably)")
    if int(actual["strided_conv"]) < 1:
        raise CheckFailed("down-sample with strided nn.Conv2d layers (stride 2), as in DCGAN")
    if int(actual["pooling"]):
        raise CheckFailed("no pooling layers in a DCGAN: strided convolutions change the size")
    if int(actual["leaky_relu"]) < 1:
        raise CheckFailed("the DCGAN discriminator uses nn.LeakyReLU(0.2)")
    params = int(actual["parameters"])
    if not MIN_PARAMETERS <= params <= MAX_PARAMETERS:
        raise CheckFailed(f"{params:,} parameters with width={width}: aim for between {MIN_PARAMETERS:,} and {MAX_PARAMETERS:,}")
    if not bool(actual["input_gets_gradient"]):
        raise CheckFailed("no gradient reaches the input images: the generator learns through this gradient")
    if not bool(actual["eval_is_repeatable"]):
        raise CheckFailed("in eval mode two passes on the same images differ: is something random outside nn.Dropout?")
    if num_classes:
        if int(actual["embedding"]) < 1:
            raise CheckFailed("embed the class label with nn.Embedding(num_classes, ...)")
        if float(actual["label_changes_output"]) < 1e-6:
            raise CheckFailed("the same image scores the same for every label: the label must enter the score")
        if float(actual["label_image_interaction"]) <= 1e-4 * float(actual["label_effect"]) + 1e-7:
            raise CheckFailed("changing the label changes every image's score by the same amount: a bias per class "
                              "does not ask whether the image fits the label; combine the label with the image's "
                              "features (the projection <e_y, h(x)>)")


# --------------------------------------------------------------------------- gan_train_step


def _course_models(seed: int, num_classes: int, width: int = 8):
    import torch

    from cvcourse_utils.gan import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(seed)
    return DCGANGenerator(latent_dim=8, width=width, num_classes=num_classes), DCGANDiscriminator(width=width, num_classes=num_classes)


def run_gan_train_step(fn, args) -> dict:
    """One step of the student's ``gan_train_step`` on the course's small DCGAN; then 20 steps with G frozen."""
    import torch

    seed, batch, num_classes = args
    g, d = _course_models(seed, num_classes)
    gen = torch.Generator().manual_seed(seed)
    real = torch.rand(batch, 1, 28, 28, generator=gen) * 2 - 1
    z = torch.randn(batch, 8, generator=gen)
    labels = torch.randint(0, num_classes, (batch,), generator=gen) if num_classes else None
    g.train()
    d.train()
    g0, d0 = copy.deepcopy(g), copy.deepcopy(d)

    def D(model, x):
        return model(x) if labels is None else model(x, labels)

    def G(model):
        return model(z) if labels is None else model(z, labels)

    g_opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999))
    returned = fn(g, d, g_opt, d_opt, real, z, labels)
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise TypeError("gan_train_step must return a tuple (d_loss, g_loss) of floats")
    d_loss, g_loss = (float(v) for v in returned)
    with torch.no_grad():
        fake0 = G(copy.deepcopy(g0))  # the generator before the step (a copy: BatchNorm statistics)
        expected_d = float(_bce(D(d0, real).numpy(), 1.0) + _bce(D(d0, fake0).numpy(), 0.0))
        expected_g_updated_d = float(_bce(D(d, fake0).numpy(), 1.0))  # D after its step, G before its own
        expected_g_old_d = float(_bce(D(d0, fake0).numpy(), 1.0))
        expected_g_minimax = float(-_bce(D(d, fake0).numpy(), 0.0))
    g_moved = any(not torch.equal(a, b) for a, b in zip(g0.parameters(), g.parameters()))
    d_moved = any(not torch.equal(a, b) for a, b in zip(d0.parameters(), d.parameters()))
    # only D steps: G's optimiser has learning rate 0, the batch and the latents stay fixed
    for group in g_opt.param_groups:
        group["lr"] = 0.0
    frozen = [p.detach().clone() for p in g.parameters()]
    d_losses = [float(fn(g, d, g_opt, d_opt, real, z, labels)[0]) for _ in range(20)]
    g_still = all(torch.equal(a, p.detach()) for a, p in zip(frozen, g.parameters()))
    return {"d_loss": d_loss, "g_loss": g_loss, "expected_d": expected_d, "expected_g": expected_g_updated_d,
            "expected_g_old_d": expected_g_old_d, "expected_g_minimax": expected_g_minimax,
            "g_moved": bool(g_moved), "d_moved": bool(d_moved), "d_losses_only_d": d_losses, "g_frozen": bool(g_still)}


def compare_gan_train_step(actual, expected, args) -> None:
    def near(a, b):
        return abs(float(a) - float(b)) <= 1e-4 + 1e-4 * abs(float(b))

    d_loss, g_loss = float(actual["d_loss"]), float(actual["g_loss"])
    if not near(d_loss, actual["expected_d"]):
        raise CheckFailed(f"d_loss = {d_loss:.6f}, but the discriminator loss of the models before the step is "
                          f"{float(actual['expected_d']):.6f}: compute it on real and on G(z).detach() before updating anything")
    if not near(g_loss, actual["expected_g"]):
        hint = ""
        if near(g_loss, actual["expected_g_old_d"]):
            hint = " (that is G's loss through D *before* its update: step D first, then score G(z) again)"
        elif near(g_loss, actual["expected_g_minimax"]):
            hint = " (that is the minimax loss: use the non-saturating one)"
        raise CheckFailed(f"g_loss = {g_loss:.6f}, but the non-saturating loss of G(z) scored by the updated D is "
                          f"{float(actual['expected_g']):.6f}{hint}")
    if not bool(actual["d_moved"]):
        raise CheckFailed("the discriminator's parameters did not change: call d_optimizer.step()")
    if not bool(actual["g_moved"]):
        raise CheckFailed("the generator's parameters did not change: call g_optimizer.step()")
    if not bool(actual["g_frozen"]):
        raise CheckFailed("with the generator's learning rate at 0 its parameters still changed: update G only with g_optimizer")
    losses = [float(v) for v in actual["d_losses_only_d"]]
    if not losses[-1] < 0.7 * losses[0]:
        raise CheckFailed(f"with G frozen and a fixed batch, 20 steps should lower D's loss clearly; it went from "
                          f"{losses[0]:.4f} to {losses[-1]:.4f} (are the gradients zeroed before each backward?)")


# --------------------------------------------------------------------------- train_gan

TRAIN_GAN_IMAGES = 300
TRAIN_GAN_PROGRESS = 0.6  # the final mean image is at most 60% as far from the data's as at the start


def run_train_gan(fn, args) -> dict:
    """Train the course's small DCGAN with the student's ``train_gan`` on 300 digits; report the history."""
    import torch

    from cvcourse_utils.datasets import load_dataset

    steps, snapshot_every, num_classes, seed = args
    g, d = _course_models(seed, num_classes, width=16)
    images, labels = load_dataset("digits", "train", n=TRAIN_GAN_IMAGES, image_size=28, seed=seed, as_numpy=True)
    before = [p.detach().clone() for p in g.parameters()]
    fed = {"latents": set(), "g_calls": 0, "real_rows": 0, "real_label_mismatches": 0}
    data = (torch.from_numpy(images).float().flatten(1) * 2 - 1).double()

    def watch_g(module, args, kwargs):  # the latents G trains on (snapshots run in eval mode)
        if module.training:
            z = args[0] if args else kwargs["z"]
            fed["g_calls"] += 1
            fed["latents"].update(row.numpy().tobytes() for row in z.detach().cpu().float())

    def watch_d(module, args, kwargs):  # real images must come with their own labels
        x = (args[0] if args else kwargs["x"]).detach().cpu().float().flatten(1)
        y = args[1] if len(args) > 1 else kwargs.get("labels")
        if y is None or not num_classes:
            return
        distance, nearest = torch.cdist(x.double(), data).min(dim=1)
        real = distance < 1e-3
        fed["real_rows"] += int(real.sum())
        fed["real_label_mismatches"] += int((y.detach().cpu()[real] != torch.from_numpy(labels)[nearest[real]]).sum())

    hooks = [g.register_forward_pre_hook(watch_g, with_kwargs=True), d.register_forward_pre_hook(watch_d, with_kwargs=True)]
    torch.manual_seed(seed)
    try:
        history = fn(g, d, torch.from_numpy(images), torch.from_numpy(labels) if num_classes else None,
                     latent_dim=8, steps=steps, batch_size=32, lr=2e-3, snapshot_every=snapshot_every, seed=seed)
    finally:
        for hook in hooks:
            hook.remove()
    if not isinstance(history, dict) or not {"d_loss", "g_loss", "snapshots"} <= set(history):
        raise TypeError("train_gan must return a dict with 'd_loss', 'g_loss' and 'snapshots'")
    snaps = [np.asarray(s.detach().cpu() if isinstance(s, torch.Tensor) else s, dtype=np.float64) for s in history["snapshots"]]
    data_mean = images.mean(axis=0)
    with torch.no_grad():
        g0 = _course_models(seed, num_classes, width=16)[0].eval()
        z = torch.randn(64, 8, generator=torch.Generator().manual_seed(seed + 1))
        y = torch.arange(64) % 10
        start = ((g0(z) if num_classes == 0 else g0(z, y)) + 1) / 2
        g.eval()
        end = ((g(z) if num_classes == 0 else g(z, y)) + 1) / 2
    return {"d_loss": [float(v) for v in history["d_loss"]], "g_loss": [float(v) for v in history["g_loss"]],
            "snapshot_shapes": [list(s.shape) for s in snaps],
            "snapshot_ranges": [[float(s.min()), float(s.max())] for s in snaps] if snaps else [],
            "snapshots_differ": bool(len(snaps) > 1 and np.abs(snaps[0] - snaps[-1]).max() > 1e-3),
            "g_moved": bool(any(not torch.equal(a, b.detach()) for a, b in zip(before, g.parameters()))),
            "distinct_latents": len(fed["latents"]), "g_calls": fed["g_calls"], "real_rows": fed["real_rows"],
            "real_label_mismatches": fed["real_label_mismatches"],
            "start_distance": float(np.linalg.norm(start.mean(0).numpy() - data_mean)),
            "end_distance": float(np.linalg.norm(end.mean(0).numpy() - data_mean))}


def compare_train_gan(actual, expected, args) -> None:
    steps, snapshot_every, num_classes, seed = args
    for key in ("d_loss", "g_loss"):
        if len(actual[key]) != steps:
            raise CheckFailed(f"steps={steps} but history[{key!r}] has {len(actual[key])} values (one per step)")
    shapes = [[int(v) for v in s] for s in actual["snapshot_shapes"]]
    if len(shapes) != steps // snapshot_every:
        raise CheckFailed(f"steps={steps}, snapshot_every={snapshot_every}: expected {steps // snapshot_every} snapshots, got {len(shapes)}")
    if any(s != [16, 1, 28, 28] for s in shapes):
        raise CheckFailed(f"each snapshot is 16 images (16, 1, 28, 28); got shapes {shapes}")
    if any(lo < 0 or hi > 1 for lo, hi in actual["snapshot_ranges"]):
        raise CheckFailed("snapshots are images in [0, 1]: map the generator's [-1, 1] with (x + 1) / 2")
    if not bool(actual["snapshots_differ"]):
        raise CheckFailed("the first and the last snapshot are the same images: does the generator train?")
    if not bool(actual["g_moved"]):
        raise CheckFailed("the generator's parameters did not change: train the model you were given, in place")
    if int(actual["distinct_latents"]) < 0.9 * steps * 32:
        raise CheckFailed(f"in {steps} training steps of batch 32 the generator saw only {int(actual['distinct_latents'])} "
                          "different latents: draw fresh latents z for every step")
    if num_classes:
        rows, wrong = int(actual["real_rows"]), int(actual["real_label_mismatches"])
        if rows < steps * 32 // 2:
            raise CheckFailed(f"the discriminator saw only {rows} real images in {steps} steps of batch 32: give it a batch "
                              "of the real images (mapped to [-1, 1]) at every step")
        if wrong > 0.02 * rows:
            raise CheckFailed(f"{wrong} of the {rows} real images reached the discriminator with another image's label: "
                              "take the labels of the same indices as the images")
    start, end = float(actual["start_distance"]), float(actual["end_distance"])
    if not end <= TRAIN_GAN_PROGRESS * start:
        raise CheckFailed(f"after {steps} steps the samples' mean image is {end:.3f} from the data's (it was {start:.3f} "
                          f"untrained); a working loop gets it below {TRAIN_GAN_PROGRESS:.0%} of that")


# --------------------------------------------------------------------------- frechet_distance


def feature_pair(rng: np.random.Generator, n_a: int, n_b: int, dim: int, shift: float = 0.0, stretch: float = 1.0) -> tuple:
    """Two float64 feature sets (n_a, dim), (n_b, dim): correlated Gaussians, the second shifted and stretched."""
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    a = rng.normal(size=(n_a, dim)) @ mix
    b = (rng.normal(size=(n_b, dim)) @ mix) * stretch + shift
    return a, b


def _fid_reference(features_a, features_b):
    import torch
    from torch import nn
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Features(nn.Module):  # the "extractor" hands the features straight through
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.num_features = dim

        def forward(self, x):
            return x

    a, b = (torch.from_numpy(np.asarray(f, dtype=np.float64)) for f in (features_a, features_b))
    metric = FrechetInceptionDistance(feature=Features(a.shape[1]))
    metric.update(a, real=True)
    metric.update(b, real=False)
    return float(metric.compute())


# --------------------------------------------------------------------------- what each task must not use

#: The losses are taught by hand: PyTorch's binary cross-entropy (with logits or on probabilities, as a function or a
#: module; soft_margin_loss is the same loss with labels +-1) answers each of them in one call.
BCE_LOSSES = ("torch.nn.functional.binary_cross_entropy_with_logits", "torch.nn.functional.binary_cross_entropy",
              "torch.nn.BCEWithLogitsLoss", "torch.nn.BCELoss", "torch.binary_cross_entropy_with_logits",
              "torch.nn.functional.soft_margin_loss", "torch.nn.SoftMarginLoss")
#: The course's own DCGAN (conditional with num_classes) answers the four model tasks.
COURSE_MODELS = ("cvcourse_utils.gan.DCGANGenerator", "cvcourse_utils.gan.DCGANDiscriminator")
#: The course's step and loop (and its losses, which the step must take from the student's own tasks).
COURSE_TRAINING = ("cvcourse_utils.gan.gan_step", "cvcourse_utils.gan.train_gan_models", "cvcourse_utils.gan.d_loss_bce",
                   "cvcourse_utils.gan.g_loss_nonsaturating")
#: torchmetrics' FID and the course's wrapper of it (scipy.linalg.sqrtm stays allowed: the text offers it).
FID = ("torchmetrics.image.fid", "cvcourse_utils.judge.judge_fid", "cvcourse_utils.judge.score_samples")


# --------------------------------------------------------------------------- tasks, in notebook order

TASKS = (
    Task(
        name="discriminator_loss",
        function="discriminator_loss",
        forbidden=BCE_LOSSES + ("cvcourse_utils.gan.d_loss_bce", "cvcourse_utils.gan.gan_step"),
        by_hand='compute the binary cross-entropy of real and fake logits yourself, with F.logsigmoid',
        cases=(
            Case("8 real and 8 fake logits", lambda rng: logits_inputs(rng, 8, 8)),
            Case("5 real and 12 fake logits (the batch sizes may differ)", lambda rng: logits_inputs(rng, 5, 12), seed=1),
        ),
        reference=_d_loss_reference,
        compare=close(atol=1e-10, rtol=1e-10, dtype="float64", shape=()),
        call=_tensors,
    ),
    Task(
        name="generator_loss_minimax",
        function="generator_loss_minimax",
        forbidden=BCE_LOSSES + ("cvcourse_utils.gan.d_loss_bce", "cvcourse_utils.gan.gan_step"),
        by_hand='compute mean log(1 - D(G(z))) from the logits yourself, with F.logsigmoid',
        cases=(Case("10 fake logits", lambda rng: logits_inputs(rng, 10)),
               Case("3 fake logits", lambda rng: logits_inputs(rng, 3), seed=1)),
        reference=_g_minimax_reference,
        compare=close(atol=1e-10, rtol=1e-10, dtype="float64", shape=()),
        call=_tensors,
    ),
    Task(
        name="generator_loss_nonsaturating",
        function="generator_loss_nonsaturating",
        forbidden=BCE_LOSSES + ("cvcourse_utils.gan.g_loss_nonsaturating", "cvcourse_utils.gan.gan_step"),
        by_hand='compute -mean log D(G(z)) from the logits yourself, with F.logsigmoid',
        cases=(Case("10 fake logits", lambda rng: logits_inputs(rng, 10)),
               Case("3 fake logits", lambda rng: logits_inputs(rng, 3), seed=1)),
        reference=_g_nonsaturating_reference,
        compare=close(atol=1e-10, rtol=1e-10, dtype="float64", shape=()),
        call=_tensors,
    ),
    Task(
        name="dcgan_generator",
        function="dcgan_generator",
        forbidden=COURSE_MODELS,
        by_hand="build the DCGAN generator's layers yourself",
        cases=(Case("latent_dim 32, width 32, a batch of 4", lambda rng: (32, 0, 32, 4)),
               Case("latent_dim 8, width 16, a batch of 3", lambda rng: (8, 0, 16, 3))),
        compare=compare_generator,
        call=run_generator,
    ),
    Task(
        name="dcgan_discriminator",
        function="dcgan_discriminator",
        forbidden=COURSE_MODELS,
        by_hand="build the DCGAN discriminator's layers yourself",
        cases=(Case("width 32, a batch of 4", lambda rng: (0, 32, 4)),
               Case("width 16, a batch of 3", lambda rng: (0, 16, 3))),
        compare=compare_discriminator,
        call=run_discriminator,
    ),
    Task(
        name="gan_train_step",
        function="gan_train_step",
        forbidden=COURSE_TRAINING,
        by_hand='write the alternating D and G updates yourself, with your own losses',
        cases=(Case("a batch of 16, unconditional", lambda rng: (0, 16, 0)),
               Case("a batch of 8, conditional on 10 classes", lambda rng: (1, 8, 10))),
        compare=compare_gan_train_step,
        call=run_gan_train_step,
    ),
    Task(
        name="train_gan",
        function="train_gan",
        forbidden=COURSE_TRAINING,
        by_hand='write the training loop yourself: batches, fresh latents, optimisers and snapshots',
        cases=(Case("60 steps, a snapshot every 20, unconditional", lambda rng: (60, 20, 0, 0)),),
        compare=compare_train_gan,
        call=run_train_gan,
    ),
    Task(
        name="conditional_generator",
        function="conditional_generator",
        forbidden=COURSE_MODELS,
        by_hand='build the conditional generator yourself (an nn.Embedding and your DCGAN generator)',
        cases=(Case("latent_dim 32, 10 classes, width 32, a batch of 10", lambda rng: (32, 10, 32, 10)),
               Case("latent_dim 8, 3 classes, width 16, a batch of 4", lambda rng: (8, 3, 16, 4))),
        compare=compare_generator,
        call=run_generator,
    ),
    Task(
        name="conditional_discriminator",
        function="conditional_discriminator",
        forbidden=COURSE_MODELS,
        by_hand='build the projection discriminator yourself',
        cases=(Case("10 classes, width 32, a batch of 10", lambda rng: (10, 32, 10)),
               Case("3 classes, width 16, a batch of 4", lambda rng: (3, 16, 4))),
        compare=compare_discriminator,
        call=run_discriminator,
    ),
    Task(
        name="frechet_distance",
        function="frechet_distance",
        forbidden=FID,
        by_hand='compute the means, covariances and the trace of the matrix square root yourself',
        cases=(
            Case("two sets of 200 features in 4-d, the second shifted by 0.5", lambda rng: feature_pair(rng, 200, 200, 4, shift=0.5)),
            Case("300 and 150 features in 8-d, the second stretched 1.5x", lambda rng: feature_pair(rng, 300, 150, 8, stretch=1.5), seed=1),
        ),
        reference=_fid_reference,
        compare=close(atol=1e-6, rtol=1e-6, dtype="float64", shape=()),
    ),
)
