"""Lab 06: ready-made answers earn 0 (check and grader), and the checks that were weak now fail wrong answers."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cvcourse_utils import checking
from cvcourse_utils.checking import CheckFailed
from cvcourse_utils.labchecks import lab06

from taught_shortcuts import assert_shortcuts_earn_zero

SHORTCUTS = {
    "scaled_dot_product_attention_scratch": (
        "import torch.nn.functional as F\n"
        "def scaled_dot_product_attention_scratch(q, k, v, mask=None):\n"
        "    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])\n"
        "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), F.scaled_dot_product_attention(q, k, eye, attn_mask=mask)\n"),
    "multi_head_attention": (
        "from torch import nn\n"
        "class MultiHeadAttention(nn.Module):\n"
        "    def __init__(self, embed_dim, num_heads):\n"
        "        super().__init__()\n"
        "        self.mha = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)\n"
        "    def forward(self, query, key, value):\n"
        "        return self.mha(query, key, value)\n"),
    "patch_embed": (
        "import torch.nn.functional as F\n"
        "def patch_embed(images, weight, bias, patch_size):\n"
        "    return F.conv2d(images, weight, bias, stride=patch_size).flatten(2).transpose(1, 2)\n"),
    "sinusoidal_positions": (
        "from cvcourse_utils.vit import sinusoidal_positions as reference\n"
        "def sinusoidal_positions(n_positions, dim):\n"
        "    return reference(n_positions, dim).double()\n"),
    "encoder_block": (
        "import torch.nn as nn\n"
        "class EncoderBlock(nn.TransformerEncoderLayer):\n"
        "    def __init__(self, dim, num_heads, mlp_dim):\n"
        "        super().__init__(dim, num_heads, mlp_dim, dropout=0.0, activation='gelu', batch_first=True, norm_first=True)\n"),
    "build_vit": (
        "from torchvision.models.vision_transformer import VisionTransformer\n"
        "def build_vit(image_size, patch_size, in_channels, num_classes, dim=64, depth=4, heads=4):\n"
        "    return VisionTransformer(image_size, patch_size, depth, heads, dim, 2 * dim, num_classes=num_classes)\n"),
    "shifted_window_mask": (
        "import torch\n"
        "from torchvision.models.swin_transformer import shifted_window_attention\n"
        "def shifted_window_mask(height, width, window, shift):\n"
        "    # probe torchvision's Swin layer for the mask it builds inside\n"
        "    x = torch.eye(height * width).reshape(1, height, width, -1)\n"
        "    return shifted_window_attention(x, None, None, None, 1, [window, window], [shift, shift]) != 0\n"),
    "clip_loss": (
        "import torch.nn.functional as F\n"
        "from cvcourse_utils.clip import clip_contrastive_loss\n"
        "def clip_loss(image_features, text_features, temperature=0.07):\n"
        "    logits = F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).T / temperature\n"
        "    return clip_contrastive_loss(logits)\n"),
    "zero_shot_classify": (
        "from cvcourse_utils import clip as C\n"
        "def zero_shot_classify(model, images, class_names, template='a photo of a {}'):\n"
        "    return C.zero_shot_logits(model, images, class_names, template).argmax(1)\n"),
}

# Other shortcuts a student could write: each must be flagged by the reading (``find_delegations``).
MORE = {
    "scaled_dot_product_attention_scratch": [
        "import torch\ndef scaled_dot_product_attention_scratch(q, k, v, mask=None):\n"
        "    return torch._scaled_dot_product_attention_math(q, k, v, attn_mask=mask)\n",
        "from torch.nn.attention.flex_attention import flex_attention\ndef scaled_dot_product_attention_scratch(q, k, v, mask=None):\n"
        "    return flex_attention(q, k, v), None\n",
    ],
    "multi_head_attention": [
        "import torch.nn.functional as F\nfrom torch import nn\nclass MultiHeadAttention(nn.Module):\n"
        "    def forward(self, q, k, v):\n        return F.multi_head_attention_forward(q, k, v)\n",
        "import torch.nn.functional as F\nfrom torch import nn\nclass MultiHeadAttention(nn.Module):\n"
        "    def forward(self, q, k, v):\n        return F.scaled_dot_product_attention(q, k, v), None\n",
    ],
    "patch_embed": [
        "import torch\ndef patch_embed(images, weight, bias, patch_size):\n    return torch.conv2d(images, weight, bias, stride=patch_size)\n",
        "def patch_embed(images, weight, bias, patch_size):\n    p = patch_size\n"
        "    return images.unfold(2, p, p).unfold(3, p, p)\n",
        "import torch.nn.functional as F\ndef patch_embed(images, weight, bias, patch_size):\n"
        "    return F.unfold(images, patch_size, stride=patch_size).transpose(1, 2) @ weight.flatten(1).T + bias\n",
        "import torch.nn.functional as F\ndef patch_embed(images, weight, bias, patch_size):\n"
        "    return F.pixel_unshuffle(images, patch_size).flatten(2).transpose(1, 2) @ weight.flatten(1).T + bias\n",
        "from torch import nn\ndef patch_embed(images, weight, bias, patch_size):\n"
        "    conv = nn.Conv2d(images.shape[1], len(weight), patch_size, patch_size)\n    return conv(images)\n",
        "from cvcourse_utils.vit import patchify\ndef patch_embed(images, weight, bias, patch_size):\n"
        "    return patchify(images, patch_size) @ weight.flatten(1).T + bias\n",
    ],
    "sinusoidal_positions": [
        "from cvcourse_utils.diffusion import timestep_embedding\nimport torch\ndef sinusoidal_positions(n_positions, dim):\n"
        "    return timestep_embedding(torch.arange(n_positions), dim)\n",
    ],
    "encoder_block": [
        "from torch import nn\nclass EncoderBlock(nn.Module):\n    def __init__(self, dim, num_heads, mlp_dim):\n"
        "        super().__init__()\n        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)\n",
        "from cvcourse_utils.vit import EncoderBlock as Ref\nclass EncoderBlock(Ref):\n    pass\n",
    ],
    "build_vit": [
        "from cvcourse_utils.vit import TinyViT\ndef build_vit(image_size, patch_size, in_channels, num_classes, dim=64, depth=4, heads=4):\n"
        "    return TinyViT(image_size, patch_size, in_channels, num_classes, dim, depth, heads)\n",
        "import torchvision\ndef build_vit(image_size, patch_size, in_channels, num_classes, dim=64, depth=4, heads=4):\n"
        "    return torchvision.models.vit_b_16(num_classes=num_classes)\n",
        "from torch import nn\ndef build_vit(image_size, patch_size, in_channels, num_classes, dim=64, depth=4, heads=4):\n"
        "    layer = nn.TransformerEncoderLayer(dim, heads, batch_first=True)\n    return nn.TransformerEncoder(layer, depth)\n",
    ],
    "shifted_window_mask": [
        "import torchvision\ndef shifted_window_mask(height, width, window, shift):\n"
        "    return torchvision.models.swin_t().features[1][1].attn\n",
        "from torchvision.models import SwinTransformer\ndef shifted_window_mask(height, width, window, shift):\n"
        "    return SwinTransformer([4, 4], 8, [2], [1], [window, window])\n",
    ],
    "clip_loss": [
        "from cvcourse_utils.clip import ContrastiveLoss\ndef clip_loss(image_features, text_features, temperature=0.07):\n"
        "    return ContrastiveLoss(None)(image_features, text_features)\n",
    ],
    "zero_shot_classify": [
        "import torch.nn.functional as F\ndef zero_shot_classify(model, images, class_names, template='a photo of a {}'):\n"
        "    text = model.encode_texts([template.format(c) for c in class_names])\n"
        "    return (model.encode_image(images) @ text.T).argmax(1)\n",
    ],
}


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab06", SHORTCUTS, capsys)


@pytest.mark.parametrize("task_name", MORE)
def test_other_shortcuts_are_found(task_name):
    from cvcourse_utils.taught import find_delegations

    task = checking.get_task(task_name)
    for source in MORE[task_name]:
        assert find_delegations([source], task.function, task.forbidden), f"{task_name}: not flagged:\n{source}"


# --------------------------------------------------------------------------- the weak checks, now strong

def _task(name):
    return next(t for t in lab06.TASKS if t.name == name)


def _run(task, case, fn):
    """One case as ``check`` runs it; a failure raises CheckFailed with its message."""
    result = checking.run_case(task, fn, case)
    if not result.passed:
        raise CheckFailed(result.message)


def _solution_vit(image_size, patch_size, in_channels, num_classes, dim=64, depth=4, heads=4, *, wrong=None):
    """The lab's ViT on torch's attention (this test is not a notebook: nothing reads its code); ``wrong`` breaks it."""
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.last_attention = None

        def forward(self, q, k, v):
            out, w = self.mha(q, k, v, average_attn_weights=False)
            self.last_attention = w.detach()
            return out, w.mean(1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.attn, self.norm2 = nn.LayerNorm(dim), Attn(), nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

        def forward(self, x):
            h = self.norm1(x)
            x = x + self.attn(h, h, h)[0]
            return x + self.mlp(self.norm2(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, patch_size)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(0.02 * torch.randn(1, (image_size // patch_size) ** 2 + 1, dim))
            self.blocks = nn.ModuleList(Block() for _ in range(depth))
            self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, num_classes)

        def forward(self, x):
            t = self.patch_embed(x).flatten(2).transpose(1, 2)
            t = torch.cat([self.cls_token.expand(len(x), -1, -1), t], 1) + self.pos_embed
            for block in self.blocks:
                t = block(t)
            t = self.norm(t)
            return self.head(t.mean(1) if wrong == "mean_pool" else t[:, 0])

    return ViT()


class PatchLinear(nn.Module):
    """What the review's 2/2 answer was: patch convolution, positions and one linear layer (no attention, no class token)."""

    def __init__(self, image_size, patch_size, in_channels, num_classes, dim=64, depth=4, heads=4):
        super().__init__()
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, (image_size // patch_size) ** 2, dim))
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.head((self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed).mean(1))


def test_build_vit_refuses_a_model_without_attention_or_class_token():
    task = _task("build_vit")
    wiring = task.cases[1]  # wiring only: fast
    with pytest.raises(CheckFailed, match="blocks|position"):
        _run(task, wiring, PatchLinear)
    with pytest.raises(CheckFailed, match="class token"):
        _run(task, wiring, lambda *a: _solution_vit(*a, wrong="mean_pool"))
    _run(task, wiring, _solution_vit)


def test_build_vit_patch_mean_model_fails_the_accuracy_bar():
    """Trained on the digits, a patch-mean linear model stays far below the bar (even with its wiring excused)."""
    task = _task("build_vit")
    args = task.cases[0].args()
    result = lab06.run_build_vit(PatchLinear, args)
    assert result["val_accuracy"] < lab06.VIT_BAR - 0.2, result["val_accuracy"]
    result = lab06.run_build_vit(_solution_vit, args)
    assert result["val_accuracy"] >= lab06.VIT_BAR + 0.1, result["val_accuracy"]
    lab06.compare_build_vit(result, None, args)


def _zero_shot(normalise_text: bool):
    import torch.nn.functional as F

    def zero_shot_classify(model, images, class_names, template="a photo of a {}"):
        with torch.no_grad():
            text = model.text_encoder(model.tokenizer([template.format(c) for c in class_names]))
            image = model.image_encoder(images)
            if normalise_text:
                text = F.normalize(text, dim=-1)
            return (image @ text.T).argmax(1)
    return zero_shot_classify


def test_zero_shot_without_normalising_the_texts_fails():
    task = _task("zero_shot_classify")
    case = next(c for c in task.cases if "differ in length" in c.name)
    with pytest.raises(CheckFailed):
        _run(task, case, _zero_shot(False))
    _run(task, case, _zero_shot(True))
    for c in task.cases:
        _run(task, c, _zero_shot(True))


def test_zero_shot_check_model_refuses_its_own_shortcuts():
    model = lab06.check_clip(0)
    with pytest.raises(TypeError, match="image_encoder"):
        model.encode_image(torch.zeros(1, 3, 32, 32))
    with pytest.raises(TypeError, match="image_encoder"):
        model(torch.zeros(1, 3, 32, 32), torch.zeros(1, 4, dtype=torch.long))


def _window_mask(order: str = "right"):
    """The lab's shifted-window mask; ``order`` breaks it: no roll, windows column by column, or no mask at all."""
    def shifted_window_mask(height, width, window, shift):
        region = 2 * (torch.arange(height) < shift)[:, None].long() + (torch.arange(width) < shift)[None, :].long()
        if order != "no_roll":
            region = torch.roll(region, shifts=(-shift, -shift), dims=(0, 1))
        labels = region.reshape(height // window, window, width // window, window)
        labels = labels.permute(2, 0, 1, 3) if order == "columns" else labels.permute(0, 2, 1, 3)
        labels = labels.reshape(-1, window * window)
        mask = labels[:, :, None] == labels[:, None, :]
        return torch.ones_like(mask) if order == "all" else mask
    return shifted_window_mask


def test_shifted_window_mask_refuses_wrong_masks():
    task = _task("shifted_window_mask")
    for case in task.cases:
        _run(task, case, _window_mask())
    shifted = task.cases[0]
    for wrong in ("no_roll", "columns", "all"):
        with pytest.raises(CheckFailed):
            _run(task, shifted, _window_mask(wrong))
    with pytest.raises(CheckFailed, match="bool"):
        _run(task, shifted, lambda *a: _window_mask()(*a).float())
