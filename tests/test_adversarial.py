"""cvcourse_utils.adversarial: attacks stay in the eps-ball and [0, 1], hurt a trained model, and training on them helps."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse_utils.adversarial import adversarial_fit, fgsm, pgd, robust_accuracy


def _linear_problem(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 4, 4, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long()
    return x, y


def _trained(seed=0):
    torch.manual_seed(seed)
    x, y = _linear_problem()
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval(), x, y


def test_fgsm_is_a_clipped_signed_gradient_step():
    model, x, y = _trained()
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    adv = fgsm(model, x, y, 0.05)
    assert torch.allclose(adv, (x + 0.05 * grad.sign()).clamp(0, 1))
    assert torch.equal(fgsm(model, x, y, 0.0), x)


def test_pgd_stays_in_the_ball_and_the_range_and_beats_fgsm():
    model, x, y = _trained()
    eps = 0.05
    adv = pgd(model, x, y, eps, steps=10)
    assert float((adv - x).abs().max()) <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    start = pgd(model, x, y, eps, steps=3, random_start=True, generator=torch.Generator().manual_seed(0))
    assert float((start - x).abs().max()) <= eps + 1e-6
    with torch.no_grad():
        acc = lambda z: float((model(z).argmax(1) == y).float().mean())
        assert acc(adv) <= acc(fgsm(model, x, y, eps)) + 1e-6 < acc(x)


def test_targeted_pgd_moves_predictions_to_the_target():
    model, x, y = _trained()
    target = 1 - y
    adv = pgd(model, x, target, 0.3, alpha=0.02, steps=30, targeted=True)
    with torch.no_grad():
        assert float((model(adv).argmax(1) == target).float().mean()) > 0.9


def test_robust_accuracy_falls_with_eps_and_starts_at_clean_accuracy():
    model, x, y = _trained()
    curve = robust_accuracy(model, x, y, [0.0, 0.02, 0.1], batch_size=64)
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    assert list(curve) == [0.0, 0.02, 0.1] and abs(curve[0.0] - clean) < 1e-6
    assert curve[0.0] >= curve[0.02] >= curve[0.1]


def test_adversarial_fit_raises_accuracy_under_attack_and_leaves_eval_mode():
    model, x, y = _trained()
    before = robust_accuracy(model, x, y, [0.1])[0.1]
    loader = DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = adversarial_fit(model, loader, optimizer, epochs=20, eps=0.1)
    assert len(losses) == 20 and not model.training
    assert robust_accuracy(model, x, y, [0.1])[0.1] > before
