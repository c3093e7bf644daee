"""Lab 05: every task earns points only for the code it teaches, and the linear probe is really frozen.

The shortcuts are the ones a review found (each earned full points before the tasks declared what they must
not use) and a few more ways to the same ready-made code; each must earn 0 in ``check`` and in the grader.
"""
from __future__ import annotations

import pytest
from taught_shortcuts import ROOT, assert_shortcuts_earn_zero, check_refuses, given_sources

from cvcourse_utils import checking
from cvcourse_utils.grading.lab import load_lab

LAB = "lab05"

SHORTCUTS = {  # what the review found
    "basic_block": (
        "from cvcourse_utils.models import BasicBlock as CourseBlock\n\n"
        "class BasicBlock(CourseBlock):\n    pass\n"),
    "bottleneck_block": (
        "from torch import nn\nfrom torchvision.models.resnet import Bottleneck as TorchvisionBottleneck\n\n"
        "def Bottleneck(in_channels, planes, stride=1):\n"
        "    downsample = None\n"
        "    if stride != 1 or in_channels != 4 * planes:\n"
        "        downsample = nn.Sequential(nn.Conv2d(in_channels, 4 * planes, 1, stride=stride, bias=False),\n"
        "                                   nn.BatchNorm2d(4 * planes))\n"
        "    return TorchvisionBottleneck(in_channels, planes, stride, downsample)\n"),
    "depthwise_separable_block": (
        "from torch import nn\nfrom torchvision.ops.misc import Conv2dNormActivation\n\n"
        "def DepthwiseSeparable(in_channels, out_channels, stride=1):\n"
        "    return nn.Sequential(\n"
        "        Conv2dNormActivation(in_channels, in_channels, 3, stride=stride, groups=in_channels, activation_layer=nn.ReLU),\n"
        "        Conv2dNormActivation(in_channels, out_channels, 1, activation_layer=nn.ReLU))\n"),
    "squeeze_excitation": (
        "from torchvision.ops import SqueezeExcitation as TorchvisionSE\n\n"
        "class SqueezeExcitation(TorchvisionSE):\n    pass\n"),
    "conv_flops": (
        "import torch\nfrom torch import nn\nfrom torch.utils.flop_counter import FlopCounterMode\n\n"
        "def conv_flops(in_channels, out_channels, kernel_size, stride, padding, groups, bias, height, width):\n"
        "    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias)\n"
        "    with FlopCounterMode(display=False) as counter, torch.no_grad():\n"
        "        layer(torch.zeros(1, in_channels, height, width))\n"
        "    return {'flops': counter.get_total_flops(), 'params': sum(p.numel() for p in layer.parameters())}\n"),
    "network_flops": (
        "import torch\nfrom torch.utils.flop_counter import FlopCounterMode\n\n"
        "def network_flops(model, input_shape):\n"
        "    with FlopCounterMode(display=False) as counter, torch.no_grad():\n"
        "        model(torch.zeros(1, *input_shape))\n"
        "    return counter.get_total_flops()\n"),
    "triplet_loss": (
        "from torch import nn\n\n"
        "def triplet_loss(anchor, positive, negative, margin=1.0):\n"
        "    return nn.TripletMarginLoss(margin=margin, eps=0.0)(anchor, positive, negative)\n"),
    "recall_at_k": (
        "import numpy as np\nfrom sklearn.neighbors import NearestNeighbors\n\n"
        "def recall_at_k(query, query_labels, gallery, gallery_labels, ks):\n"
        "    _, idx = NearestNeighbors(n_neighbors=max(ks)).fit(gallery).kneighbors(query)\n"
        "    hits = np.asarray(gallery_labels)[idx] == np.asarray(query_labels)[:, None]\n"
        "    return np.array([hits[:, :k].any(axis=1).mean() for k in ks])\n"),
}

OTHER_SHORTCUTS = {  # the same ready-made code under other names, and the equivalent library calls
    "basic_block": (
        "import torchvision.models as tvm\n\n"
        "def BasicBlock(in_channels, out_channels, stride=1):\n"
        "    return tvm.resnet.BasicBlock(in_channels, out_channels, stride)\n"),
    "bottleneck_block": (
        "from torchvision.models import resnet50\n\n"
        "def Bottleneck(in_channels, planes, stride=1):\n"
        "    return type(resnet50().layer1[0])(in_channels, planes, stride)\n"),
    "depthwise_separable_block": (
        "from torch import nn\nfrom torchvision.ops import Conv2dNormActivation as CNA\n\n"
        "def DepthwiseSeparable(in_channels, out_channels, stride=1):\n"
        "    return nn.Sequential(CNA(in_channels, in_channels, 3, stride=stride, groups=in_channels), CNA(in_channels, out_channels, 1))\n"),
    "squeeze_excitation": (
        "import torchvision.ops.misc as misc\n\n"
        "def SqueezeExcitation(channels, squeeze_channels):\n"
        "    return misc.SqueezeExcitation(channels, squeeze_channels)\n"),
    "conv_flops": (
        "import torch\nimport torch.nn.functional as F\n\n"
        "def conv_flops(in_channels, out_channels, kernel_size, stride, padding, groups, bias, height, width):\n"
        "    w = torch.zeros(out_channels, in_channels // groups, kernel_size, kernel_size)\n"
        "    out = F.conv2d(torch.zeros(1, in_channels, height, width), w, stride=stride, padding=padding, groups=groups)\n"
        "    return {'flops': 2 * w.numel() * out.shape[2] * out.shape[3], 'params': w.numel() + (out_channels if bias else 0)}\n"),
    "network_flops": (
        "import torch\n\n"
        "def network_flops(model, input_shape):\n"
        "    with torch.profiler.profile(with_flops=True) as prof:\n"
        "        model(torch.zeros(1, *input_shape))\n"
        "    return sum(e.flops for e in prof.key_averages())\n"),
    "triplet_loss": (
        "import torch\nimport torch.nn.functional as F\n\n"
        "def triplet_loss(anchor, positive, negative, margin=1.0):\n"
        "    d_pos, d_neg = (anchor - positive).norm(dim=1), (anchor - negative).norm(dim=1)\n"
        "    return F.margin_ranking_loss(d_neg, d_pos, torch.ones_like(d_pos), margin=margin)\n"),
    "recall_at_k": (
        "import numpy as np\nfrom scipy.spatial import cKDTree\n\n"
        "def recall_at_k(query, query_labels, gallery, gallery_labels, ks):\n"
        "    _, idx = cKDTree(gallery).query(query, k=max(ks))\n"
        "    hits = np.asarray(gallery_labels)[np.asarray(idx).reshape(len(query), -1)] == np.asarray(query_labels)[:, None]\n"
        "    return np.array([hits[:, :k].any(axis=1).mean() for k in ks])\n"),
}

MORE = [  # (task, shortcut cell): each refused by check
    ("basic_block", "from cvcourse_utils.models import PlainBlock\nimport torch.nn.functional as F\n\n"
                    "class BasicBlock(PlainBlock):\n    def forward(self, x):\n        return F.relu(super().forward(x) + x)\n"),
    ("basic_block", "from torch import nn\nfrom cvcourse_utils.models import _shortcut\n\n"
                    "class BasicBlock(nn.Module):\n    def __init__(self, i, o, s=1):\n        super().__init__()\n"
                    "        self.downsample = _shortcut(i, o, s)\n"),
    ("bottleneck_block", "import torchvision\n\nclass Bottleneck(torchvision.models.resnet.Bottleneck):\n    pass\n"),
    ("triplet_loss", "import torch.nn.functional as F\n\ndef triplet_loss(a, p, n, margin=1.0):\n"
                     "    return F.triplet_margin_loss(a, p, n, margin=margin)\n"),
    ("triplet_loss", "import torch\nimport torch.nn.functional as F\n\ndef triplet_loss(a, p, n, margin=1.0):\n"
                     "    x = (a - n).norm(dim=1) - (a - p).norm(dim=1)\n"
                     "    return F.hinge_embedding_loss(x, -torch.ones_like(x), margin=margin)\n"),
    ("recall_at_k", "import numpy as np\nfrom torchmetrics.functional import retrieval_recall\n\n"
                    "def recall_at_k(query, query_labels, gallery, gallery_labels, ks):\n"
                    "    return np.array([float(retrieval_recall(None, None, top_k=k)) for k in ks])\n"),
    ("recall_at_k", "import numpy as np\nfrom sklearn.metrics import pairwise_distances_argmin\n\n"
                    "def recall_at_k(query, query_labels, gallery, gallery_labels, ks):\n"
                    "    return np.array([(gallery_labels[pairwise_distances_argmin(query, gallery)] == query_labels).mean()])\n"),
    ("network_flops", "def network_flops(model, input_shape):\n    return counted_flops(model, input_shape)\n"),  # the lab's own
    ("conv_flops", "from torch import nn\n\ndef conv_flops(in_channels, out_channels, kernel_size, stride, padding, groups, bias, height, width):\n"
                   "    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias)\n"
                   "    h = (height + 2 * padding - kernel_size) // stride + 1\n"
                   "    w = (width + 2 * padding - kernel_size) // stride + 1\n"
                   "    return {'flops': 2 * layer.weight.numel() * h * w, 'params': sum(p.numel() for p in layer.parameters())}\n"),
]


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero(LAB, SHORTCUTS, capsys)


def test_other_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero(LAB, OTHER_SHORTCUTS, capsys)


@pytest.fixture(scope="module")
def given():
    return given_sources(load_lab(LAB, ROOT).reference)


@pytest.mark.parametrize("task, source", MORE, ids=[f"{t}-{i}" for i, (t, _) in enumerate(MORE)])
def test_more_shortcuts_are_refused(task, source, given):
    check_refuses(task, [*given, source])


# A library class imported under the task's name, with no def at all: the grader (which reads the merged cells)
# and check() (which compares where the class is defined with the forbidden list) both flag it.
IMPORTED_AS_THE_TASK = ("squeeze_excitation", "from torchvision.models.efficientnet import SqueezeExcitation\n")


def test_the_grader_flags_a_library_class_imported_as_the_task(given):
    from cvcourse_utils.taught import find_delegations

    task, source = IMPORTED_AS_THE_TASK
    assert find_delegations([*given, source], "SqueezeExcitation", checking.get_task(task).forbidden)


def test_check_refuses_a_library_class_imported_as_the_task(given):
    check_refuses(*IMPORTED_AS_THE_TASK[:1], [*given, IMPORTED_AS_THE_TASK[1]])


# --------------------------------------------------------------------------- the linear probe is really frozen


def _all_cases(name: str):
    task = checking.get_task(name)
    return task, (*task.cases, *load_lab(LAB, ROOT).hidden[name])


def _probe_unfrozen_batchnorm(backbone, num_classes):
    """The answer the old check passed: frozen weights, but BatchNorm still in training mode under fit()."""
    from torch import nn

    for p in backbone.features.parameters():
        p.requires_grad = False
    backbone.head[-1] = nn.Linear(backbone.feature_channels, num_classes)
    return backbone


def _probe_frozen(backbone, num_classes):
    """The solution's way: the features stay in eval mode whatever model.train() asks."""
    from torch import nn

    features = backbone.features
    for p in features.parameters():
        p.requires_grad = False

    def stay_in_eval_mode(mode=True):
        return nn.Module.train(features, False)

    features.train = stay_in_eval_mode
    backbone.head[-1] = nn.Linear(backbone.feature_channels, num_classes)
    return backbone


def test_linear_probe_whose_batchnorm_statistics_move_fails():
    task, cases = _all_cases("linear_probe_model")
    for case in cases:
        result = checking.run_case(task, _probe_unfrozen_batchnorm, case)
        assert not result.passed and "running_" in result.message and "eval mode" in result.message, result


def test_linear_probe_kept_in_eval_mode_passes():
    task, cases = _all_cases("linear_probe_model")
    for case in cases:
        result = checking.run_case(task, _probe_frozen, case)
        assert result.passed, result


# --------------------------------------------------------------------------- honest answers stay unflagged

HONEST = [  # (task, function, cell): other ways of writing the task by hand, with the building blocks it needs
    ("squeeze_excitation", "SqueezeExcitation",
     "import torch\nfrom torch import nn\n\nclass SqueezeExcitation(nn.Module):\n"
     "    def __init__(self, channels, squeeze_channels):\n        super().__init__()\n"
     "        self.fc1, self.fc2 = nn.Linear(channels, squeeze_channels), nn.Linear(squeeze_channels, channels)\n"
     "    def forward(self, x):\n        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))\n"
     "        return x * s[:, :, None, None]\n"),
    ("triplet_loss", "triplet_loss",
     "import torch.nn.functional as F\n\ndef triplet_loss(anchor, positive, negative, margin=1.0):\n"
     "    return F.relu(F.pairwise_distance(anchor, positive, eps=0) - F.pairwise_distance(anchor, negative, eps=0) + margin).mean()\n"),
    ("recall_at_k", "recall_at_k",
     "import numpy as np\nimport torch\n\ndef recall_at_k(query, query_labels, gallery, gallery_labels, ks):\n"
     "    idx = torch.cdist(torch.as_tensor(query), torch.as_tensor(gallery)).topk(max(ks), largest=False).indices.numpy()\n"
     "    hits = np.asarray(gallery_labels)[idx] == np.asarray(query_labels)[:, None]\n"
     "    return np.array([hits[:, :k].any(axis=1).mean() for k in ks])\n"),
    ("network_flops", "network_flops",
     "import torch\nfrom torch import nn\n\ndef network_flops(model, input_shape):\n    sizes = []\n"
     "    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel() * m.weight[0].numel() * 2))\n"
     "             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]\n"
     "    with torch.no_grad():\n        model(torch.zeros(1, *input_shape))\n"
     "    for h in hooks:\n        h.remove()\n    return sum(sizes)\n"),
]


@pytest.mark.parametrize("task, function, source", HONEST, ids=[t for t, _, _ in HONEST])
def test_honest_answers_are_not_flagged(task, function, source, given):
    from cvcourse_utils.taught import find_delegations

    assert find_delegations([*given, source], function, checking.get_task(task).forbidden) == []
