"""Lab 07: ready-made answers earn 0 (``cvcourse_utils.taught``), and the training check watches lr, the schedule
and the Dice weight."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from taught_shortcuts import assert_shortcuts_earn_zero

from cvcourse_utils.checking import CheckFailed, Case, get_task, run_case, to_plain
from cvcourse_utils.segmentation import segmentation_loader, soft_dice_loss
from cvcourse_utils.training import fit

SHORTCUTS = {
    "conv_transpose2d_scatter": """
import torch
import torch.nn.functional as F

def conv_transpose2d_scatter(x, w, b, stride=1, padding=0, output_padding=0):
    t = lambda a: torch.from_numpy(a)
    return F.conv_transpose2d(t(x), t(w), t(b), stride=stride, padding=padding, output_padding=output_padding).numpy()
""",
    "bilinear_kernel": """
import numpy as np
import torch
from torch.nn.functional import interpolate as up

def bilinear_kernel(factor):
    impulse = torch.zeros(1, 1, 7, 7, dtype=torch.float64)
    impulse[0, 0, 3, 3] = 1
    k = 2 * factor - factor % 2
    response = up(impulse, scale_factor=factor, mode="bilinear", align_corners=False)[0, 0].numpy()
    start = 3 * factor - (k - factor) // 2
    return response[start:start + k, start:start + k]
""",
    "segmentation_confusion": """
import numpy as np
from cvcourse_utils.segmentation import confusion_matrix_pixels

def segmentation_confusion(pred, target, num_classes, ignore_index=255):
    return confusion_matrix_pixels(pred, target, num_classes, ignore_index=ignore_index)
""",
    "iou_per_class": """
from cvcourse_utils import segmentation

def iou_per_class(confusion):
    return segmentation.iou_from_confusion(confusion)
""",
    "dice_per_class": """
import numpy as np
from sklearn.metrics import f1_score
from cvcourse_utils.labchecks.lab07 import labels_from_confusion

def dice_per_class(confusion):
    y_true, y_pred = labels_from_confusion(confusion)
    return f1_score(y_true, y_pred, labels=np.arange(len(confusion)), average=None, zero_division=0)
""",
    "build_fcn": """
from cvcourse_utils.segmentation import SkipFCN

def build_fcn(in_channels=3, num_classes=6, width=16):
    return SkipFCN(in_channels, num_classes, width=width)
""",
    "build_unet": """
import cvcourse_utils.segmentation as seg

def build_unet(in_channels=3, num_classes=6, width=16):
    return seg.UNet(in_channels, num_classes, width=width)
""",
}

OTHER_SHORTCUTS = {  # further ways to the same answers, each read as delegated
    "conv_transpose2d_scatter": [
        "import torch\ndef conv_transpose2d_scatter(x, w, b, stride=1, padding=0, output_padding=0):\n"
        "    layer = torch.nn.ConvTranspose2d(w.shape[0], w.shape[1], w.shape[2:], stride, padding, output_padding)\n"
        "    return layer(torch.from_numpy(x)).detach().numpy()",
        "import torch\ndef conv_transpose2d_scatter(x, w, b, stride=1, padding=0, output_padding=0):\n"
        "    return torch.nn.grad.conv2d_input(x.shape, torch.from_numpy(w), torch.from_numpy(x), stride, padding).numpy()",
        "import torch\ndef conv_transpose2d_scatter(x, w, b, stride=1, padding=0, output_padding=0):\n"
        "    cols = torch.einsum('ncl,cokq->nokql', torch.from_numpy(x).flatten(2), torch.from_numpy(w))\n"
        "    return torch.nn.functional.fold(cols.flatten(1, 3), (9, 9), w.shape[2:], stride=stride).numpy()",
        "import torch\ndef conv_transpose2d_scatter(x, w, b, stride=1, padding=0, output_padding=0):\n"
        "    z = torch.zeros(1, requires_grad=True)\n    torch.nn.functional.conv2d(z, torch.from_numpy(w)).sum().backward()\n"
        "    return z.grad.numpy()",
    ],
    "bilinear_kernel": [
        "import torch\ndef bilinear_kernel(factor):\n    return torch.nn.Upsample(scale_factor=factor, mode='bilinear')(torch.ones(1, 1, 3, 3))",
        "from torchvision.transforms.v2.functional import resize\ndef bilinear_kernel(factor):\n    return resize(None, [factor])",
        "import scipy.ndimage\ndef bilinear_kernel(factor):\n    return scipy.ndimage.zoom([[1.0]], factor, order=1)",
        "import torch\nfrom cvcourse_utils.datasets.base import resize_images\ndef bilinear_kernel(factor):\n"
        "    return resize_images(torch.eye(1)[None, None], 3 * factor)",
        "from scipy.ndimage import map_coordinates\ndef bilinear_kernel(factor):\n    return map_coordinates([[1.0]], [[0.5]], order=1)",
    ],
    "segmentation_confusion": [
        "import numpy as np\ndef segmentation_confusion(pred, target, num_classes, ignore_index=255):\n"
        "    keep = target != ignore_index\n    return np.histogram2d(target[keep], pred[keep], bins=num_classes)[0].astype(int)",
        "from sklearn.metrics import confusion_matrix as cm\ndef segmentation_confusion(pred, target, num_classes, ignore_index=255):\n"
        "    return cm(target.ravel(), pred.ravel(), labels=range(num_classes))",
        "import torchmetrics\ndef segmentation_confusion(pred, target, num_classes, ignore_index=255):\n"
        "    return torchmetrics.functional.confusion_matrix(pred, target, 'multiclass', num_classes=num_classes)",
        "from scipy.sparse import coo_matrix\ndef segmentation_confusion(pred, target, num_classes, ignore_index=255):\n"
        "    return coo_matrix((target * 0 + 1, (target, pred))).toarray()",
        "import torch\ndef segmentation_confusion(pred, target, num_classes, ignore_index=255):\n"
        "    return torch.sparse_coo_tensor(torch.stack([target, pred]), torch.ones(target.numel())).to_dense()",
        "from scipy.stats.contingency import crosstab\ndef segmentation_confusion(pred, target, num_classes, ignore_index=255):\n"
        "    return crosstab(target.ravel(), pred.ravel()).count",
    ],
    "iou_per_class": [
        "from sklearn.metrics import jaccard_score\ndef iou_per_class(confusion):\n    return jaccard_score(confusion, confusion, average=None)",
        "from torchmetrics.functional.classification import multiclass_jaccard_index\n"
        "def iou_per_class(confusion):\n    return multiclass_jaccard_index(confusion, confusion, 3, average=None)",
        "from cvcourse_utils.segmentation import dice_from_confusion\n"
        "def iou_per_class(confusion):\n    d = dice_from_confusion(confusion)\n    return d / (2 - d)",
    ],
    "dice_per_class": [
        "from cvcourse_utils.segmentation import dice_from_confusion as dice\ndef dice_per_class(confusion):\n    return dice(confusion)",
        "import cvcourse_utils.segmentation as S\ndef dice_per_class(confusion):\n    iou = S.iou_from_confusion(confusion)\n"
        "    return 2 * iou / (1 + iou)",
        "from torchmetrics.functional import dice\ndef dice_per_class(confusion):\n    return dice(confusion, confusion, average=None)",
    ],
    "build_fcn": [
        "from torchvision.models.segmentation import fcn_resnet50\ndef build_fcn(in_channels=3, num_classes=6, width=16):\n"
        "    return fcn_resnet50(weights=None, weights_backbone=None, num_classes=num_classes)",
        "from cvcourse_utils.segmentation import UNet\nclass Mine(UNet):\n    pass\n"
        "def build_fcn(in_channels=3, num_classes=6, width=16):\n    return Mine(in_channels, num_classes, width)",
        "from torch import nn\nfrom cvcourse_utils.segmentation import FCN, bilinear_transposed_conv\n"
        "def build_fcn(in_channels=3, num_classes=6, width=16):\n"
        "    return nn.Sequential(FCN(in_channels, num_classes, width), bilinear_transposed_conv(num_classes, 1))",
        "import segmentation_models_pytorch as smp\ndef build_fcn(in_channels=3, num_classes=6, width=16):\n"
        "    return smp.FPN(in_channels=in_channels, classes=num_classes)",
    ],
    "build_unet": [
        "import segmentation_models_pytorch as smp\ndef build_unet(in_channels=3, num_classes=6, width=16):\n"
        "    return smp.Unet(encoder_weights=None, in_channels=in_channels, classes=num_classes)",
        "from cvcourse_utils.segmentation import UNet as U\nclass LabUNet(U):\n    pass\n"
        "def build_unet(in_channels=3, num_classes=6, width=16):\n    return LabUNet(in_channels, num_classes, width)",
        "from cvcourse_utils.diffusion import TinyUNet\ndef build_unet(in_channels=3, num_classes=6, width=16):\n"
        "    return TinyUNet()",
        "from torchvision.models import segmentation\ndef build_unet(in_channels=3, num_classes=6, width=16):\n"
        "    return segmentation.deeplabv3_resnet50(num_classes=num_classes)",
    ],
}


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab07", SHORTCUTS, capsys)


@pytest.mark.parametrize("task_name,source", [(name, src) for name, sources in OTHER_SHORTCUTS.items() for src in sources])
def test_other_shortcuts_are_read_as_delegated(task_name, source):
    from cvcourse_utils.taught import find_delegations

    task = get_task(task_name)
    assert find_delegations([source], task.function, task.forbidden), source


# --------------------------------------------------------------------------- train_segmenter: lr, schedule, Dice weight


def _train(model, train_set, val_set, *, epochs, lr, batch_size, dice_weight, seed, use_lr=True, use_dice=True,
           use_schedule=True):
    """The solution's train_segmenter, with switches that make the mistakes the check must catch."""
    train_loader = segmentation_loader(train_set, batch_size=batch_size, shuffle=True, seed=seed)
    val_loader = segmentation_loader(val_set, batch_size=2 * batch_size)
    ce = nn.CrossEntropyLoss()
    weight = dice_weight if use_dice else 0.0

    def loss_fn(logits, target):
        return ce(logits, target) + weight * soft_dice_loss(logits, target)

    optimizer = torch.optim.Adam(model.parameters(), lr=lr if use_lr else 3e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs) if use_schedule else None
    return fit(model, train_loader, optimizer, epochs=epochs, loss_fn=loss_fn, val_loader=val_loader,
               scheduler=scheduler, progress=False)


def solution(model, train_set, val_set, **kw):
    return _train(model, train_set, val_set, **kw)


def ignores_lr(model, train_set, val_set, **kw):
    return _train(model, train_set, val_set, use_lr=False, **kw)


def ignores_dice_weight(model, train_set, val_set, **kw):
    return _train(model, train_set, val_set, use_dice=False, **kw)


def no_schedule(model, train_set, val_set, **kw):
    return _train(model, train_set, val_set, use_schedule=False, **kw)


def dice_always(model, train_set, val_set, *, dice_weight, **kw):
    return _train(model, train_set, val_set, dice_weight=1.0, **kw)


# a small run: the properties are read from it; the mIoU bar needs the full public cases (the notebook runs them)
SMALL = {"dice": (2, 5e-3, 8, 1.0, 32, 0), "no dice": (2, 1e-2, 8, 0.0, 32, 1)}


def _compare(fn, args) -> str:
    task = get_task("train_segmenter")
    actual = to_plain(task.call(fn, args))
    try:
        task.compare(actual, None, args)
    except CheckFailed as err:
        return str(err)
    return ""


@pytest.mark.parametrize("case", SMALL)
def test_the_solution_passes_every_property(case):
    message = _compare(solution, SMALL[case])
    assert message == "" or message.startswith("lr=") and "validation mIoU" in message, message


@pytest.mark.parametrize("wrong,case,says", [
    (ignores_lr, "dice", "the first step used learning rate 0.003, but lr=0.005"),
    (ignores_lr, "no dice", "but lr=0.01"),
    (no_schedule, "dice", "should follow a cosine"),
    (ignores_dice_weight, "dice", "0.00 x soft Dice's"),
    (dice_always, "no dice", "1.00 x soft Dice's"),
])
def test_the_check_catches_a_training_function_that_ignores_an_argument(wrong, case, says):
    message = _compare(wrong, SMALL[case])
    assert says in message, message


def test_a_public_case_fails_an_answer_that_ignores_the_dice_weight():
    task = get_task("train_segmenter")
    dice_case = next(c for c in task.cases if c.args()[3] > 0)
    small = Case(dice_case.name, lambda rng: (1, *dice_case.args()[1:4], 16, dice_case.args()[5]))
    result = run_case(task, ignores_dice_weight, small)
    assert not result.passed and "soft Dice" in result.message, result.message
