"""Lab 10 (GANs): a shortcut through ready-made code earns 0, and the checks that issue 30 found weak now fail the
wrong answers (a training loop with one latent batch or with labels unrelated to the images, a "conditional"
discriminator that only adds a bias per class) while the solution still passes."""
from __future__ import annotations

import pytest

from cvcourse_utils.checking import run_case
from cvcourse_utils.grading.lab import load_lab
from cvcourse_utils.notebooks import cell_source
from taught_shortcuts import ROOT, assert_shortcuts_earn_zero

LAB = "lab10"

SHORTCUTS = {
    "discriminator_loss": (
        "import torch\n"
        "import torch.nn.functional as F\n"
        "def discriminator_loss(real_logits, fake_logits):\n"
        "    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))\n"
        "            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))\n"),
    "generator_loss_minimax": (
        "from torch import nn\n"
        "bce = nn.BCEWithLogitsLoss()\n"
        "def generator_loss_minimax(fake_logits):\n"
        "    return -bce(fake_logits, torch.zeros_like(fake_logits))\n"),
    "generator_loss_nonsaturating": (
        "from cvcourse_utils.gan import g_loss_nonsaturating as generator_loss_nonsaturating\n"),
    "dcgan_generator": (
        "from cvcourse_utils import gan\n"
        "def dcgan_generator(latent_dim, width=32):\n"
        "    return gan.DCGANGenerator(latent_dim=latent_dim, width=width)\n"),
    "dcgan_discriminator": (
        "import cvcourse_utils.gan as G\n"
        "class Mine(G.DCGANDiscriminator):\n"
        "    pass\n"
        "def dcgan_discriminator(width=32, dropout=0.3):\n"
        "    return Mine(width=width, dropout=dropout)\n"),
    "gan_train_step": (
        "from cvcourse_utils.gan import gan_step\n"
        "def gan_train_step(generator, discriminator, g_optimizer, d_optimizer, real, z, labels=None):\n"
        "    return gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z, labels)\n"),
    "train_gan": (
        "def train_gan(generator, discriminator, images, labels=None, *, latent_dim, steps, batch_size=64, lr=2e-4,\n"
        "              snapshot_every=100, seed=0):\n"
        "    from cvcourse_utils.gan import train_gan_models\n"
        "    generator.latent_dim = latent_dim\n"
        "    h = train_gan_models(generator, discriminator, images, labels, steps=steps, batch_size=batch_size, lr=lr,\n"
        "                         seed=seed, snapshot_every=snapshot_every, progress=False)\n"
        "    return {'d_loss': h['d_loss'], 'g_loss': h['g_loss'], 'snapshots': [s for _, s in h['snapshots'][1:]]}\n"),
    "conditional_generator": (
        "from cvcourse_utils.gan import DCGANGenerator\n"
        "def conditional_generator(latent_dim, num_classes, width=32):\n"
        "    return DCGANGenerator(latent_dim, width, num_classes=num_classes)\n"),
    "conditional_discriminator": (
        "def conditional_discriminator(num_classes, width=32, dropout=0.3):\n"
        "    from cvcourse_utils.gan import DCGANDiscriminator as D\n"
        "    return D(width=width, num_classes=num_classes, dropout=dropout)\n"),
    "frechet_distance": (
        "import numpy as np\n"
        "import torch\n"
        "from torchmetrics.image.fid import _compute_fid\n"
        "def frechet_distance(features_a, features_b):\n"
        "    a, b = (torch.from_numpy(np.asarray(f, dtype=np.float64)) for f in (features_a, features_b))\n"
        "    return float(_compute_fid(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T)))\n"),
}

MORE_SHORTCUTS = {  # other ways in, each through a name the task forbids
    "frechet_distance": (
        "import torchmetrics.image.fid as fid\n"
        "def frechet_distance(features_a, features_b):\n"
        "    metric = fid.FrechetInceptionDistance(feature=lambda x: x)\n"
        "    return metric\n"),
    "discriminator_loss": (
        "import torch\n"
        "def discriminator_loss(real_logits, fake_logits):\n"
        "    return (torch.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits), None, None, 1)\n"
        "            + torch.nn.functional.soft_margin_loss(-fake_logits, torch.ones_like(fake_logits)))\n"),
    "generator_loss_nonsaturating": (
        "import torch.nn.functional as F\n"
        "def generator_loss_nonsaturating(fake_logits):\n"
        "    return F.binary_cross_entropy(fake_logits.sigmoid(), torch.ones_like(fake_logits))\n"),
    "gan_train_step": (
        "from cvcourse_utils import gan\n"
        "def gan_train_step(generator, discriminator, g_optimizer, d_optimizer, real, z, labels=None):\n"
        "    fake = generator(z)\n"
        "    d_loss = gan.d_loss_bce(discriminator(real), discriminator(fake.detach()))\n"
        "    d_optimizer.zero_grad(); d_loss.backward(); d_optimizer.step()\n"
        "    g_loss = generator_loss_nonsaturating(discriminator(fake))\n"
        "    g_optimizer.zero_grad(); g_loss.backward(); g_optimizer.step()\n"
        "    return float(d_loss), float(g_loss)\n"),
}


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero(LAB, SHORTCUTS, capsys)


def test_more_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero(LAB, {**SHORTCUTS, **MORE_SHORTCUTS}, capsys)


# --------------------------------------------------------------------------- the checks issue 30 found weak


@pytest.fixture(scope="module")
def lab():
    return load_lab(LAB, ROOT)


def solution_sources(lab) -> dict[str, str]:
    return {c["metadata"]["nbgrader"]["grade_id"]: cell_source(c) for c in lab.reference["cells"]
            if c["metadata"].get("nbgrader", {}).get("solution") and c["cell_type"] == "code"}


def functions(lab, replace: dict[str, tuple[str, str]] | None = None) -> dict:
    """The solution's task functions, with ``{grade_id: (old, new)}`` replaced in their source."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
    from tqdm.auto import tqdm

    namespace = {"torch": torch, "nn": nn, "F": F, "np": np, "tqdm": tqdm}
    for grade_id, source in solution_sources(lab).items():
        old, new = (replace or {}).get(grade_id, ("", ""))
        if old:
            assert old in source, (grade_id, old)
            source = source.replace(old, new)
        exec(compile(source, f"<{grade_id}>", "exec"), namespace)
    return namespace


def results(lab, task_name: str, fn) -> dict[str, tuple[bool, str]]:
    """``{case name: (passed, message)}`` over the task's public and hidden cases."""
    task = next(t for t in lab.tasks if t.name == task_name)
    return {case.name: (r.passed, r.message) for case in (*task.cases, *lab.hidden.get(task_name, ()))
            for r in [run_case(task, fn, case)]}


ONE_LATENT_BATCH = ("    for step in tqdm(range(steps), desc=\"GAN steps\", mininterval=2):\n",
                    "    z_once = torch.randn(batch_size, latent_dim, generator=gen).to(dev)\n"
                    "    for step in tqdm(range(steps), desc=\"GAN steps\", mininterval=2):\n")
ONE_LATENT_BATCH_USE = ("        z = torch.randn(batch_size, latent_dim, generator=gen).to(dev)\n", "        z = z_once\n")
RANDOM_LABELS = ("        y = None if labels is None else labels[idx].to(dev)\n",
                 "        y = None if labels is None else torch.randint(0, int(labels.max()) + 1, (batch_size,), generator=gen).to(dev)\n")


def test_train_gan_needs_fresh_latents_and_the_images_own_labels(lab):
    good = results(lab, "train_gan", functions(lab)["train_gan"])
    assert all(ok for ok, _ in good.values()), good
    namespace = functions(lab)
    src = solution_sources(lab)["train_gan"]
    assert ONE_LATENT_BATCH[0] in src and ONE_LATENT_BATCH_USE[0] in src
    exec(compile(src.replace(*ONE_LATENT_BATCH).replace(*ONE_LATENT_BATCH_USE), "<one latent batch>", "exec"), namespace)
    one_batch = results(lab, "train_gan", namespace["train_gan"])
    assert not any(ok for ok, _ in one_batch.values()), one_batch
    assert all("fresh latents" in message for _, message in one_batch.values()), one_batch
    wrong_labels = results(lab, "train_gan", functions(lab, {"train_gan": RANDOM_LABELS})["train_gan"])
    conditional = [name for name in wrong_labels if "conditional on" in name]
    assert conditional and all(not wrong_labels[n][0] and "another image's label" in wrong_labels[n][1] for n in conditional), wrong_labels


BIAS_ONLY = (
    "            return self.head(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)\n",
    "            return self.head(h).squeeze(1) + self.embed(labels)[:, 0] + 0 * h.sum(dim=1)\n",
)


def test_a_class_bias_is_not_a_conditional_discriminator(lab):
    good = results(lab, "conditional_discriminator", functions(lab)["conditional_discriminator"])
    assert all(ok for ok, _ in good.values()), good
    bias = results(lab, "conditional_discriminator", functions(lab, {"conditional_discriminator": BIAS_ONLY})["conditional_discriminator"])
    assert not any(ok for ok, _ in bias.values()), bias
    assert all("a bias per class" in message for _, message in bias.values()), bias
