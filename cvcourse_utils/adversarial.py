"""Adversarial examples and adversarial training (module 09), for images in [0, 1].

Every attack stays inside the L-infinity ball of radius ``eps`` around the clean images and inside
the valid range ``[0, 1]``; the model is used as given (put it in eval mode first) and its weights
never change::

    x_adv = fgsm(model, images, labels, eps=8 / 255)                       # one signed-gradient step
    x_adv = pgd(model, images, labels, eps=8 / 255, alpha=2 / 255, steps=10)
    x_adv = pgd(model, images, torch.full_like(labels, 3), eps=8 / 255, targeted=True)  # "make it a star"
    curve = robust_accuracy(model, images, labels, [0, 2 / 255, 8 / 255])  # {eps: accuracy} under FGSM
    adversarial_fit(model, loader, optimizer, epochs=2, eps=8 / 255)       # Madry-style training (FGSM/PGD)

The lab asks for its own FGSM and targeted attack; these are the lecture's and the benchmark's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["adversarial_fit", "fgsm", "pgd", "robust_accuracy"]


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d CE(model(x), y) / d x (summed over the batch, so each image gets its own gradient); works under no_grad too."""
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al., 2015): images (N, C, H, W) in [0, 1], labels (N,).

    Returns ``clip(x + eps * sign(grad_x CE(model(x), y)), 0, 1)``, the same shape, detached.
    """
    if eps == 0:
        return images.detach().clone()
    grad = _input_gradient(model, images, labels)
    return (images.detach() + eps * grad.sign()).clamp(0.0, 1.0)


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, *, alpha: float | None = None,
        steps: int = 10, targeted: bool = False, random_start: bool = False,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent in the L-infinity ball (Madry et al., 2018); images (N, C, H, W) in [0, 1].

    Untargeted (``labels`` are the true classes): each step climbs the loss, ``x + alpha sign(grad)``.
    Targeted (``labels`` are the wanted classes): each step descends it, ``x - alpha sign(grad)``.
    After every step the image is projected back onto ``|x' - x|_inf <= eps`` and onto ``[0, 1]``.
    ``alpha`` defaults to ``2.5 eps / steps``; ``random_start`` begins at a uniform point of the ball.
    """
    x0 = images.detach()
    alpha = 2.5 * eps / max(steps, 1) if alpha is None else alpha
    x = x0.clone()
    if random_start:
        noise = torch.rand(x0.shape, generator=generator, device="cpu").to(x0.device) * 2 - 1
        x = (x0 + eps * noise).clamp(0.0, 1.0)
    sign = -1.0 if targeted else 1.0
    for _ in range(steps):
        grad = _input_gradient(model, x, labels)
        x = x + sign * alpha * grad.sign()
        x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp(0.0, 1.0)
    return x.detach()


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(dim=1) == y).float().mean())


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilons: Sequence[float], *,
                    attack: Callable | None = None, batch_size: int = 256) -> dict[float, float]:
    """Accuracy on ``attack(model, x, y, eps)`` (default ``fgsm``) for each ``eps``: {eps: accuracy in [0, 1]}."""
    attack = attack or fgsm
    out = {}
    for eps in epsilons:
        correct = 0.0
        for start in range(0, len(images), batch_size):
            x, y = images[start:start + batch_size], labels[start:start + batch_size]
            correct += _accuracy(model, attack(model, x, y, float(eps)), y) * len(x)
        out[float(eps)] = correct / len(images)
    return out


def adversarial_fit(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer, *, epochs: int, eps: float,
                    attack: Callable | None = None, clean_weight: float = 0.0, device=None,
                    progress: bool = True) -> list[float]:
    """Train on adversarial examples made on the fly (``attack(model, x, y, eps)``, default ``fgsm``).

    Each batch: craft the examples with the model in eval mode, then one step on
    ``(1 - clean_weight) CE(adv) + clean_weight CE(clean)`` in train mode. Returns the mean loss per epoch.
    progress: one tqdm bar over every epoch's batches (shown once the training has taken more than 3 s).
    """
    from tqdm.auto import tqdm

    attack = attack or fgsm
    device = device or next(model.parameters()).device
    losses = []
    total_batches = epochs * len(loader) if hasattr(loader, "__len__") else None
    bar = tqdm(total=total_batches, desc="adversarial training", unit="batch", disable=not progress, delay=3, leave=False)
    for _ in range(epochs):
        total, count = 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            model.eval()
            x_adv = attack(model, x, y, eps)
            model.train()
            loss = (1 - clean_weight) * F.cross_entropy(model(x_adv), y)
            if clean_weight:
                loss = loss + clean_weight * F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * len(x), count + len(x)
            bar.update(1)
        losses.append(total / max(count, 1))
    bar.close()
    model.eval()
    return losses
