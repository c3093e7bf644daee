"""Lab 09: shortcut answers (Captum, the course's attribution and attack helpers) earn 0, and the checks that used
to pass wrong answers (a training step that never switches eval/train mode, a class visualisation without its
regularisers or a dataset image) now fail them while the solution passes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cvcourse_utils import checking
from taught_shortcuts import assert_shortcuts_earn_zero

SIG = {
    "saliency_map": "def saliency_map(model, images, targets):\n",
    "occlusion_map": "def occlusion_map(model, images, targets, window, stride, baseline):\n",
    "grad_cam": "def grad_cam(model, layer, images, targets):\n",
    "class_visualisation": "def class_visualisation(model, target, steps, *, size=32, lr=0.05, l2=1e-3, jitter=2, blur_every=10):\n",
    "fgsm_attack": "def fgsm_attack(model, images, labels, eps):\n",
    "accuracy_under_attack": "def accuracy_under_attack(model, images, labels, epsilons):\n",
    "targeted_attack": "def targeted_attack(model, images, target, eps, alpha, steps):\n",
    "adversarial_training_step": "def adversarial_training_step(model, optimizer, images, labels, eps):\n",
}

SHORTCUTS = {  # what the review found, and what a lazy student would write next
    "saliency_map": "from cvcourse_utils.attribution import attribution_map\n\n" + SIG["saliency_map"]
    + "    return attribution_map('saliency', model, images, targets)\n",
    "occlusion_map": "from captum.attr import Occlusion\n\n" + SIG["occlusion_map"]
    + "    c = images.shape[1]\n    return Occlusion(model).attribute(images, sliding_window_shapes=(c, window, window),\n"
      "        strides=(c, stride, stride), baselines=baseline, target=targets)[:, 0]\n",
    # the lab's own comparison helper (given after the saliency task) wraps the reference: following it finds it
    "grad_cam": SIG["grad_cam"] + "    return captum_map('grad_cam', model, images, targets, layer=layer)\n",
    "class_visualisation": "import captum.attr as CA\n\n" + SIG["class_visualisation"]
    + "    x = torch.full((1, 3, size, size), 0.5)\n    return CA.Saliency(model).attribute(x, target=target)[0]\n",
    "fgsm_attack": "from cvcourse_utils.adversarial import fgsm\n\n" + SIG["fgsm_attack"] + "    return fgsm(model, images, labels, eps)\n",
    "accuracy_under_attack": "from cvcourse_utils import adversarial as A\n\n" + SIG["accuracy_under_attack"]
    + "    curve = A.robust_accuracy(model, images, labels, epsilons)\n    return np.array([curve[float(e)] for e in epsilons])\n",
    "targeted_attack": "from captum.robust import PGD\n\n" + SIG["targeted_attack"]
    + "    return PGD(model).perturb(images, radius=eps, step_size=alpha, step_num=steps, target=target, targeted=True)\n",
    "adversarial_training_step": "from cvcourse_utils.adversarial import adversarial_fit\n\n" + SIG["adversarial_training_step"]
    + "    return adversarial_fit(model, [(images, labels)], optimizer, epochs=1, eps=eps)[0]\n",
}

MORE_SHORTCUTS = {  # other routes to the same helpers
    "saliency_map": "from captum.attr import Saliency as S\n\n" + SIG["saliency_map"]
    + "    return S(model).attribute(images, target=targets, abs=True).amax(1)\n",
    "occlusion_map": "import cvcourse_utils.attribution as ca\nhelper = ca.attribution_map\n\n" + SIG["occlusion_map"]
    + "    return helper('occlusion', model, images, targets, window=window, stride=stride, baseline=baseline)\n",
    "grad_cam": "from captum.attr import LayerGradCam\n\n" + SIG["grad_cam"]
    + "    return LayerGradCam(model, layer).attribute(images, target=targets, relu_attributions=True)\n",
    "targeted_attack": "from cvcourse_utils.adversarial import pgd\n\n" + SIG["targeted_attack"]
    + "    return pgd(model, images, target, eps, alpha=alpha, steps=steps, targeted=True)\n",
    "fgsm_attack": "from captum.robust import FGSM\n\n" + SIG["fgsm_attack"]
    + "    return FGSM(model, lower_bound=0, upper_bound=1).perturb(images, eps, labels)\n",
    "adversarial_training_step": SIG["adversarial_training_step"]
    + "    from cvcourse_utils.adversarial import fgsm as attack\n    model.eval()\n    x = attack(model, images, labels, eps)\n"
      "    model.train()\n    optimizer.zero_grad()\n    loss = F.cross_entropy(model(x), labels)\n    loss.backward()\n"
      "    optimizer.step()\n    return float(loss)\n",
    "accuracy_under_attack": "from cvcourse_utils.adversarial import fgsm as f\n\n" + SIG["accuracy_under_attack"]
    + "    return np.array([float((model(f(model, images, labels, e)).argmax(1) == labels).double().mean()) for e in epsilons])\n",
}


def test_lab09_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab09", SHORTCUTS, capsys)


def test_lab09_more_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab09", {**SHORTCUTS, **MORE_SHORTCUTS}, capsys)


# --------------------------------------------------------------------------- the weak checks, now strong


def _task(name):
    return checking.get_task(name)


def _results(name, fn):
    task = _task(name)
    return [checking.run_case(task, fn, case) for case in task.cases]


def _fgsm(model, images, labels, eps):
    x = images.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), labels), x)
    return (images.detach() + eps * grad.sign()).clamp(0.0, 1.0)


def _training_step(switch_eval=True, switch_train=True):
    def adversarial_training_step(model, optimizer, images, labels, eps):
        if switch_eval:
            model.eval()
        adversarial = _fgsm(model, images, labels, eps)
        if switch_train:
            model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(adversarial), labels)
        loss.backward()
        optimizer.step()
        return float(loss)
    return adversarial_training_step


def test_adversarial_training_step_needs_eval_for_the_attack_and_train_for_the_update():
    assert all(r.passed for r in _results("adversarial_training_step", _training_step())), "the solution fails"
    never = _results("adversarial_training_step", _training_step(switch_eval=False, switch_train=False))
    assert not never[0].passed and "train mode" in never[0].message, never[0].message
    no_eval = _results("adversarial_training_step", _training_step(switch_eval=False))
    assert not no_eval[0].passed and "model.eval()" in no_eval[0].message, no_eval[0].message


def _class_visualisation(l2_term=True, jitter_on=True, blur_on=True):
    import torchvision.transforms.functional as TF

    def class_visualisation(model, target, steps, *, size=32, lr=0.05, l2=1e-3, jitter=2, blur_every=10):
        image = torch.full((1, 3, size, size), 0.5, requires_grad=True)
        optimizer = torch.optim.Adam([image], lr=lr)
        for step in range(steps):
            dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,))) if jitter_on else (0, 0)
            loss = -model(torch.roll(image, shifts=(dy, dx), dims=(2, 3)))[0, target]
            if l2_term:
                loss = loss + l2 * (image - 0.5).pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                if blur_on and blur_every and (step + 1) % blur_every == 0 and step + 1 < steps:
                    image.copy_(TF.gaussian_blur(image, kernel_size=3, sigma=0.5))
                image.clamp_(0.0, 1.0)
        return image.detach()[0]
    return class_visualisation


def _surest_image(model, target, steps, **options):
    """The review's shortcut: the test image the model is surest of (no ascent at all)."""
    from cvcourse_utils.labchecks.lab09 import trained_probe

    _, images, _ = trained_probe(0)
    with torch.no_grad():
        return images[torch.softmax(model(images), 1)[:, target].argmax()]


@pytest.mark.parametrize("wrong, says", [
    (_class_visualisation(l2_term=False, jitter_on=False, blur_on=False), "L2 term"),  # plain gradient ascent
    (_class_visualisation(l2_term=False), "L2 term"),
    (_class_visualisation(jitter_on=False), "different seeds"),
    (_surest_image, "probability"),
])
def test_class_visualisation_needs_its_regularisers_and_an_ascent(wrong, says):
    (result,) = _results("class_visualisation", wrong)
    assert not result.passed and says in result.message, result.message


def test_class_visualisation_solution_passes_and_unblurred_ascent_is_noisier():
    assert all(r.passed for r in _results("class_visualisation", _class_visualisation())), "the solution fails"
    from cvcourse_utils.labchecks.lab09 import class_visualisation_reference, high_frequency, trained_probe

    model, _, _ = trained_probe(0)
    torch.manual_seed(1)
    smooth = high_frequency(_class_visualisation()(model, 3, 60))
    assert smooth <= 0.8 * class_visualisation_reference(3, 60)["plain_high_frequency"]
