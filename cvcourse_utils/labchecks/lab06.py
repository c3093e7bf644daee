"""Lab 06 · Attention and transformers: the tasks, their public cases and library references.

Attention is checked against PyTorch in float64: ``F.scaled_dot_product_attention`` (its weights
too, as the attention applied to an identity matrix of values), ``nn.MultiheadAttention`` and
``nn.TransformerEncoderLayer(norm_first=True)`` with the same weights copied into the student's
modules (the ``call`` adapters copy them and return plain arrays). The patch embedding is checked
against a strided ``F.conv2d``, the sinusoidal encoding against its formula evaluated here, the
CLIP loss against ``F.cross_entropy``. A ViT has no single right answer: its check tests
properties (shapes, gradients, the use of positions) and accuracy after a small fixed budget.
Zero-shot classification is checked against the similarities computed with ``F.cosine_similarity``.
Swin's shifted-window mask is checked against region labels computed here in NumPy (which patches of
the rolled map wrapped around), a formulation other than the lab's roll of labels.
"""
from __future__ import annotations

import math

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close, equal

# --------------------------------------------------------------------------- inputs


def attention_inputs(rng: np.random.Generator, batch: tuple, lq: int, lk: int, d: int, dv: int,
                     mask: str | None = None) -> tuple:
    """``(q, k, v, mask)``: q (*batch, lq, d), k (*batch, lk, d), v (*batch, lk, dv) float64.

    mask: None, ``"causal"`` (lq == lk; key j <= query i), ``"random"`` (each query keeps at least
    one key) or ``"one_key"`` (every query row keeps exactly one key); True means "may attend".
    """
    batch = tuple(batch)
    q, k, v = rng.normal(size=batch + (lq, d)), rng.normal(size=batch + (lk, d)), rng.normal(size=batch + (lk, dv))
    if mask is None:
        m = None
    elif mask == "causal":
        m = np.tril(np.ones((lq, lk), bool))
    elif mask == "random":
        m = rng.random(batch + (lq, lk)) < 0.6
        m[..., np.arange(lq), rng.integers(0, lk, lq)] = True
    elif mask == "one_key":
        m = np.zeros(batch + (lq, lk), bool)
        idx = rng.integers(0, lk, batch + (lq,))
        np.put_along_axis(m, idx[..., None], True, axis=-1)
    else:
        raise ValueError(mask)
    return (q, k, v, m)


def mha_inputs(rng: np.random.Generator, batch: int, lq: int, lk: int, embed_dim: int, heads: int,
               seed: int, self_attention: bool = True) -> tuple:
    """``(query, key, value, embed_dim, heads, seed)``; ``seed`` draws the layer's weights."""
    query = rng.normal(size=(batch, lq, embed_dim))
    if self_attention:
        return (query, query, query, embed_dim, heads, seed)
    return (query, rng.normal(size=(batch, lk, embed_dim)), rng.normal(size=(batch, lk, embed_dim)), embed_dim, heads, seed)


def block_inputs(rng: np.random.Generator, batch: int, length: int, dim: int, heads: int, mlp_dim: int,
                 seed: int) -> tuple:
    """``(x, dim, heads, mlp_dim, seed)`` with x (batch, length, dim) float64."""
    return (rng.normal(size=(batch, length, dim)), dim, heads, mlp_dim, seed)


def patch_inputs(rng: np.random.Generator, batch: int, channels: int, height: int, width: int, patch: int,
                 dim: int) -> tuple:
    """``(images, weight, bias, patch)``: images (B, C, H, W), weight (dim, C, P, P), bias (dim,) float64."""
    return (rng.normal(size=(batch, channels, height, width)), rng.normal(size=(dim, channels, patch, patch)),
            rng.normal(size=dim), patch)


def clip_inputs(rng: np.random.Generator, batch: int, dim: int, temperature: float, scale: float = 3.0) -> tuple:
    """``(image_features, text_features, temperature)``: two (batch, dim) float64 arrays, not normalised."""
    return (rng.normal(size=(batch, dim)) * scale, rng.normal(size=(batch, dim)) * scale, temperature)


# --------------------------------------------------------------------------- helpers


def _t(a):
    import torch

    return None if a is None else torch.from_numpy(np.asarray(a)).to(torch.float64 if np.asarray(a).dtype != bool else torch.bool)


def _plain(x):
    """A tensor (or a tuple of them) from the student's code -> NumPy, refusing other types clearly."""
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")


# --------------------------------------------------------------------------- scaled dot-product attention


def run_attention(fn, args):
    q, k, v, mask = args
    out = fn(_t(q), _t(k), _t(v), _t(mask))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError("scaled_dot_product_attention_scratch must return (output, weights)")
    return [_plain(out[0]), _plain(out[1])]


def _attention_reference(q, k, v, mask):
    """(output, weights) from F.scaled_dot_product_attention; the weights are the attention applied to identity values."""
    import torch
    import torch.nn.functional as F

    qt, kt, vt, mt = _t(q), _t(k), _t(v), _t(mask)
    out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt)
    eye = torch.eye(kt.shape[-2], dtype=torch.float64).expand(*kt.shape[:-1], kt.shape[-2])
    weights = F.scaled_dot_product_attention(qt, kt, eye, attn_mask=mt)
    return out, weights


# --------------------------------------------------------------------------- multi-head attention


def reference_mha(embed_dim: int, heads: int, seed: int):
    """nn.MultiheadAttention(embed_dim, heads, batch_first=True) in float64 with weights drawn from ``seed``."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(int(seed))
    layer = nn.MultiheadAttention(embed_dim, heads, batch_first=True).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
    return layer.eval()


def copy_mha_weights(student, reference) -> None:
    """Copy nn.MultiheadAttention's weights into a module with q_proj, k_proj, v_proj, out_proj (nn.Linear)."""
    import torch
    from torch import nn

    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        if not isinstance(getattr(student, name, None), nn.Linear):
            raise TypeError(f"MultiHeadAttention needs an attribute {name!r} that is an nn.Linear(embed_dim, embed_dim)")
    w, b = reference.in_proj_weight.chunk(3), reference.in_proj_bias.chunk(3)
    with torch.no_grad():
        for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
            getattr(student, name).weight.copy_(w[i])
            getattr(student, name).bias.copy_(b[i])
        student.out_proj.weight.copy_(reference.out_proj.weight)
        student.out_proj.bias.copy_(reference.out_proj.bias)


def run_mha(cls, args):
    import torch

    query, key, value, embed_dim, heads, seed = args
    module = cls(embed_dim, heads).double()
    copy_mha_weights(module, reference_mha(embed_dim, heads, seed))
    module.eval()
    with torch.no_grad():
        out = module(_t(query), _t(key), _t(value))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError("MultiHeadAttention.forward must return (output, weights averaged over the heads)")
    return {"output": _plain(out[0]), "weights": _plain(out[1])}


def _mha_reference(query, key, value, embed_dim, heads, seed):
    import torch

    layer = reference_mha(embed_dim, heads, seed)
    with torch.no_grad():
        out, weights = layer(_t(query), _t(key), _t(value), need_weights=True, average_attn_weights=True)
    return {"output": out, "weights": weights}


# --------------------------------------------------------------------------- patches and positions


def run_patch_embed(fn, args):
    images, weight, bias, patch = args
    return _plain(fn(_t(images), _t(weight), _t(bias), patch))


def _patch_reference(images, weight, bias, patch):
    import torch.nn.functional as F

    return F.conv2d(_t(images), _t(weight), _t(bias), stride=patch).flatten(2).transpose(1, 2)


def run_positions(fn, args):
    return _plain(fn(*args))


def _positions_reference(n_positions: int, dim: int) -> np.ndarray:
    """The formula, one entry at a time: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...)."""
    pe = np.zeros((n_positions, dim))
    for p in range(n_positions):
        for i in range(dim // 2):
            angle = p / 10000 ** (2 * i / dim)
            pe[p, 2 * i], pe[p, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


# --------------------------------------------------------------------------- the pre-norm encoder block


def reference_block(dim: int, heads: int, mlp_dim: int, seed: int):
    """nn.TransformerEncoderLayer(norm_first=True, GELU, no dropout, batch first) in float64, weights from ``seed``."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(int(seed))
    layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=mlp_dim, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.4)
    return layer.eval()


def run_block(cls, args):
    import torch
    from torch import nn

    x, dim, heads, mlp_dim, seed = args
    block = cls(dim, heads, mlp_dim).double()
    ref = reference_block(dim, heads, mlp_dim, seed)
    for name, kind in (("norm1", nn.LayerNorm), ("norm2", nn.LayerNorm), ("linear1", nn.Linear), ("linear2", nn.Linear)):
        if not isinstance(getattr(block, name, None), kind):
            raise TypeError(f"EncoderBlock needs an attribute {name!r} that is an nn.{kind.__name__}")
    copy_mha_weights(getattr(block, "attn", None), ref.self_attn)
    with torch.no_grad():
        for name in ("norm1", "norm2", "linear1", "linear2"):
            getattr(block, name).weight.copy_(getattr(ref, name).weight)
            getattr(block, name).bias.copy_(getattr(ref, name).bias)
    block.eval()
    with torch.no_grad():
        return _plain(block(_t(x)))


def _block_reference(x, dim, heads, mlp_dim, seed):
    import torch

    with torch.no_grad():
        return reference_block(dim, heads, mlp_dim, seed)(_t(x))


# --------------------------------------------------------------------------- build_vit: a property check

# The fixed budget of the build_vit check: 640 of the built-in digits at 16x16 (grey: no colour gives a class away),
# patches of 4 (16 tokens and the class token), AdamW at 3e-3, batches of 32, 8 epochs. A working ViT of width 32
# and depth 2 reaches about 0.86 on 200 validation digits (seeds 0 and 1, about 6 s on one CPU thread); a model
# that only averages its patch embeddings stays below 0.2 (chance is 0.1).
VIT_CHECK = dict(dataset="digits", n_train=640, n_val=200, epochs=8, lr=3e-3, batch_size=32, image_size=16)
VIT_BAR = 0.6
MIN_VIT_PARAMETERS, MAX_VIT_PARAMETERS = 500, 2_000_000


def _vit_wiring(model, x, patch_size: int, depth: int, heads: int) -> dict:
    """How the model uses its class token and blocks (forward hooks on ``model.blocks``; eval mode, no grad)."""
    import torch
    from torch import nn

    blocks = getattr(model, "blocks", None)
    out = {"blocks": len(blocks) if isinstance(blocks, nn.ModuleList) else -1, "tokens_shape": [],
           "class_token_read": False, "other_tokens_ignored": False, "attention_shapes": []}
    if out["blocks"] < 1:
        return out
    seen = {}

    def capture(module, args, output):
        seen["tokens"] = output

    handle = blocks[-1].register_forward_hook(capture)
    try:
        logits = model(x)
    finally:
        handle.remove()
    tokens = seen.get("tokens")
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 3:
        return out
    out["tokens_shape"] = list(tokens.shape)
    out["attention_shapes"] = [list(getattr(getattr(b, "attn", None), "last_attention", None).shape)
                               if isinstance(getattr(getattr(b, "attn", None), "last_attention", None), torch.Tensor) else []
                               for b in blocks]
    gen = torch.Generator().manual_seed(0)

    def changed(rows) -> float:
        def perturb(module, args, output):
            output = output.clone()
            output[:, rows] = output[:, rows] + torch.randn(output[:, rows].shape, generator=gen)
            return output

        handle = blocks[-1].register_forward_hook(perturb)
        try:
            return float((model(x) - logits).abs().max())
        finally:
            handle.remove()

    out["class_token_read"] = changed(slice(0, 1)) > 1e-4
    out["other_tokens_ignored"] = tokens.shape[1] > 1 and changed(slice(1, None)) < 1e-6
    return out


def run_build_vit(fn, args) -> dict:
    """Build the student's ViT, test its wiring on random images, then train it briefly on the digits (when asked)."""
    import torch
    from torch import nn

    image_size, patch_size, in_channels, num_classes, dim, depth, heads, train = args
    torch.manual_seed(0)
    model = fn(image_size, patch_size, in_channels, num_classes, dim, depth, heads)
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_vit must return an nn.Module, got {type(model).__name__}")
    x = torch.rand(4, in_channels, image_size, image_size)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
        # swap the first two patches of every image: a ViT that uses positions must notice
        p = patch_size
        swapped = x.clone()
        swapped[:, :, :p, :p], swapped[:, :, :p, p:2 * p] = x[:, :, :p, p:2 * p], x[:, :, :p, :p]
        moved = model(swapped)
        wiring = _vit_wiring(model, x, patch_size, depth, heads)
    model.train()
    model.zero_grad()
    model(x).logsumexp(dim=1).sum().backward()
    params = [q for q in model.parameters() if q.requires_grad]
    no_grad = sum(q.grad is None or not bool(q.grad.abs().sum() > 0) for q in params)
    result = {
        "output_shape": list(first.shape),
        "parameters": sum(q.numel() for q in params),
        "eval_is_repeatable": bool(torch.equal(first, second)),
        "parameters_without_gradient": int(no_grad),
        "position_sensitive": bool((moved - first).abs().max() > 1e-6),
        **wiring,
        "val_accuracy": -1.0,
    }
    if train:
        from torch.utils.data import DataLoader

        from cvcourse_utils.datasets import load_dataset
        from cvcourse_utils.seeding import seed_everything
        from cvcourse_utils.training import evaluate, fit

        seed_everything(0)
        model = fn(image_size, patch_size, in_channels, num_classes, dim, depth, heads)
        cfg = VIT_CHECK
        train_set = load_dataset(cfg["dataset"], "train", n=cfg["n_train"], image_size=image_size)
        val_set = load_dataset(cfg["dataset"], "val", n=cfg["n_val"], image_size=image_size)
        loader = DataLoader(train_set, batch_size=cfg["batch_size"], shuffle=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.01)
        fit(model, loader, optimizer, epochs=cfg["epochs"], device="cpu", progress=False)
        result["val_accuracy"] = float(evaluate(model, DataLoader(val_set, batch_size=cfg["n_val"]), device="cpu")["accuracy"])
    return result


def compare_build_vit(actual, expected, args) -> None:
    image_size, patch_size, in_channels, num_classes, dim, depth, heads, train = args
    shape = [int(s) for s in actual["output_shape"]]
    if shape != [4, num_classes]:
        raise CheckFailed(f"images (4, {in_channels}, {image_size}, {image_size}) should give logits (4, {num_classes}), "
                          f"got {tuple(shape)}")
    n = int(actual["parameters"])
    if not MIN_VIT_PARAMETERS <= n <= MAX_VIT_PARAMETERS:
        raise CheckFailed(f"{n:,} parameters: with dim={dim} and depth={depth} expect between {MIN_VIT_PARAMETERS:,} "
                          f"and {MAX_VIT_PARAMETERS:,}")
    if not bool(actual["eval_is_repeatable"]):
        raise CheckFailed("in eval mode two forward passes on the same images differ")
    if int(actual["parameters_without_gradient"]):
        raise CheckFailed(f"{int(actual['parameters_without_gradient'])} parameter tensors get no gradient: is every part "
                          "(class token, positions, blocks, head) used in forward?")
    if not bool(actual["position_sensitive"]):
        raise CheckFailed("swapping two patches does not change the output: add the position embeddings to the tokens")
    if int(actual["blocks"]) != depth:
        raise CheckFailed(f"expected `model.blocks`, an nn.ModuleList of depth={depth} EncoderBlocks, "
                          f"got {'none' if int(actual['blocks']) < 0 else int(actual['blocks'])}")
    tokens = (image_size // patch_size) ** 2 + 1
    if [int(s) for s in actual["tokens_shape"]] != [4, tokens, dim]:
        raise CheckFailed(f"the last block should output (4, {tokens}, {dim}): the class token and "
                          f"{tokens - 1} patch tokens of {dim} features; got {tuple(actual['tokens_shape']) or 'no tensor'}")
    bad = [i for i, s in enumerate(actual["attention_shapes"]) if [int(v) for v in s] != [4, heads, tokens, tokens]]
    if bad:
        raise CheckFailed(f"block {bad[0]}'s `attn.last_attention` should hold the per-head weights (4, {heads}, {tokens}, "
                          f"{tokens}) after a forward pass: is every block's attention your MultiHeadAttention?")
    if not bool(actual["class_token_read"]) or not bool(actual["other_tokens_ignored"]):
        raise CheckFailed("the logits should be read from the class token (token 0) of the last block's output, and "
                          "from it alone: the head sees `self.norm(tokens)[:, 0]`")
    if train and float(actual["val_accuracy"]) < VIT_BAR:
        raise CheckFailed(f"after {VIT_CHECK['epochs']} epochs on {VIT_CHECK['n_train']} digits of 16x16 the validation "
                          f"accuracy is {float(actual['val_accuracy']):.3f}; a working ViT reaches {VIT_BAR} (chance is 0.1)")


# --------------------------------------------------------------------------- CLIP


def run_clip_loss(fn, args):
    image_features, text_features, temperature = args
    return _plain(fn(_t(image_features), _t(text_features), temperature))


def _clip_loss_reference(image_features, text_features, temperature):
    import torch
    import torch.nn.functional as F

    img, txt = F.normalize(_t(image_features), dim=-1), F.normalize(_t(text_features), dim=-1)
    logits = img @ txt.T / temperature
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _scaled_text_encoder(encoder, scales):
    """The text encoder with prompt k's embedding multiplied by ``scales[k]``: cosine similarities do not change,
    dot products with unnormalised text embeddings do (the argmax follows the longest prompt vector)."""
    import torch
    from torch import nn

    class ScaledText(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.register_buffer("scales", torch.tensor([float(s) for s in scales]))

        def forward(self, tokens):
            out = self.encoder(tokens)
            return out * self.scales[: len(out), None].to(out.dtype)

    return ScaledText()


def _refuse(*args, **kwargs):
    raise TypeError("zero_shot_classify should embed with model.image_encoder and model.text_encoder and normalise "
                    "itself (not model(...), encode_image or encode_text, which normalise for you)")


def check_clip(seed: int, text_scales=None):
    """A ToyCLIP with random weights drawn from ``seed`` (eval mode, CPU): the checks need no training. With
    ``text_scales`` the k-th prompt's text embedding is scaled by ``text_scales[k]``. The model's own shortcuts
    (``forward``, ``encode_image``, ``encode_text(s)``, which normalise) refuse to run."""
    import torch

    from cvcourse_utils.clip import ToyCLIP

    torch.manual_seed(int(seed))
    model = ToyCLIP(embed_dim=32, image_width=8, text_width=32, text_depth=1).eval()
    if text_scales is not None:
        model.text_encoder = _scaled_text_encoder(model.text_encoder, text_scales)
    model.forward = model.encode_image = model.encode_text = model.encode_texts = _refuse
    return model


def check_images(seed: int, n: int):
    from cvcourse_utils.datasets.captions import load_captioned_shapes

    return load_captioned_shapes("test", n=n, seed=seed, pairs="held_out").image_tensor()


def run_zero_shot(fn, args):
    import torch

    seed, n, class_names, template, *scales = args
    with torch.no_grad():
        preds = fn(check_clip(seed, *scales), check_images(seed, n), list(class_names), template)
    return _plain(torch.as_tensor(preds)).astype(np.int64)


def _zero_shot_reference(seed, n, class_names, template, *scales):
    import torch
    import torch.nn.functional as F

    model = check_clip(seed, *scales)
    with torch.no_grad():
        tokens = model.tokenizer([template.format(c) for c in class_names])
        image = model.image_encoder(check_images(seed, n))
        text = model.text_encoder(tokens)
        sims = F.cosine_similarity(image[:, None, :], text[None, :, :], dim=-1)
    return sims.argmax(1)


# --------------------------------------------------------------------------- Swin: the shifted-window mask


def run_window_mask(fn, args):
    height, width, window, shift = args
    return _plain(fn(int(height), int(width), int(window), int(shift)))


def _window_mask_reference(height, width, window, shift):
    """(nW, M², M²) bool: on the map rolled by -shift, two patches of a window may attend to each other when
    neither or both wrapped around in each direction (rows >= H - shift, columns >= W - shift wrapped)."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    label = 2 * (rows >= height - shift) * (shift > 0) + (cols >= width - shift) * (shift > 0)
    label = label.reshape(height // window, window, width // window, window).transpose(0, 2, 1, 3)
    label = label.reshape(-1, window * window)                                   # (nW, M²), windows row by row
    return label[:, :, None] == label[:, None, :]


def _window_mask_shape(args):
    height, width, window, _ = args
    n = window * window
    return ((height // window) * (width // window), n, n)


# --------------------------------------------------------------------------- what each task must write itself

#: Ready-made attention: PyTorch's (public and private), its transformer layers, torchvision's and diffusers' ViT
#: and attention layers, and the course's own ViT (cvcourse_utils.vit uses nn.MultiheadAttention).
ATTENTION_SHORTCUTS = (
    "torch.nn.functional.scaled_dot_product_attention", "torch.nn.functional.multi_head_attention_forward",
    "torch.nn.MultiheadAttention", "torch.nn.modules.activation.MultiheadAttention", "torch.nn.attention",
    "torch._native_multi_head_attention", "torch._scaled_dot_product_attention_math",
    "torch._scaled_dot_product_flash_attention", "torch._scaled_dot_product_flash_attention_for_cpu",
    "torch._scaled_dot_product_efficient_attention", "torch._scaled_dot_product_cudnn_attention",
    "torch._triton_multi_head_attention", "torch._triton_scaled_dot_attention", "torch._fused_sdp_choice",
    "torch.nn.TransformerEncoderLayer", "torch.nn.TransformerEncoder", "torch.nn.TransformerDecoderLayer",
    "torch.nn.TransformerDecoder", "torch.nn.Transformer", "torch.nn.modules.transformer",
    "torchvision.models.vision_transformer", "torchvision.models.swin_transformer", "torchvision.models.maxvit",
    # a forbidden module does not cover its names re-exported elsewhere: torchvision.models' ViTs by name
    "torchvision.models.VisionTransformer", "torchvision.models.vit_b_16", "torchvision.models.vit_b_32",
    "torchvision.models.vit_l_16", "torchvision.models.vit_l_32", "torchvision.models.vit_h_14",
    "torchvision.models.SwinTransformer", "torchvision.models.MaxVit",
    "diffusers.models.attention", "diffusers.models.attention_processor", "diffusers.models.transformers",
    "cvcourse_utils.vit.EncoderBlock", "cvcourse_utils.vit.TinyViT", "cvcourse_utils.vit.build_tiny_vit",
    "cvcourse_utils.vit.load_tiny_vit", "cvcourse_utils.diffusion", "cvcourse_utils.clip.TextEncoder",
)
#: Ready-made patches: any convolution or unfold (the task asks for reshapes and one matrix product).
PATCH_SHORTCUTS = (
    "torch.nn.functional.conv1d", "torch.nn.functional.conv2d", "torch.nn.functional.conv3d", "torch.conv1d",
    "torch.conv2d", "torch.conv3d", "torch.convolution", "torch._convolution", "torch.nn.Conv1d", "torch.nn.Conv2d",
    "torch.nn.Conv3d", "torch.nn.LazyConv2d", "torch.nn.modules.conv", "torch.nn.functional.unfold", "torch.nn.Unfold",
    "torch.nn.functional.pixel_unshuffle", "torch.pixel_unshuffle", "torch.nn.PixelUnshuffle", ".unfold",
    "cvcourse_utils.vit.patchify", "cvcourse_utils.vit.PatchEmbedding", "diffusers.models.embeddings",
)
POSITION_SHORTCUTS = ("cvcourse_utils.vit.sinusoidal_positions", "cvcourse_utils.diffusion.timestep_embedding",
                      "diffusers.models.embeddings")
CLIP_LOSS_SHORTCUTS = ("cvcourse_utils.clip.clip_contrastive_loss", "cvcourse_utils.clip.ContrastiveLoss",
                       "cvcourse_utils.clip.train_toy_clip")
ZERO_SHOT_SHORTCUTS = ("cvcourse_utils.clip.zero_shot_logits", "cvcourse_utils.clip.zero_shot_accuracy",
                       ".encode_image", ".encode_text", ".encode_texts")

#: Ready-made Swin: torchvision's Swin Transformer (its shifted_window_attention builds this mask), timm's.
WINDOW_MASK_SHORTCUTS = (
    "torchvision.models.swin_transformer", "torchvision.models.SwinTransformer", "torchvision.models.swin_t",
    "torchvision.models.swin_s", "torchvision.models.swin_b", "torchvision.models.swin_v2_t",
    "torchvision.models.swin_v2_s", "torchvision.models.swin_v2_b", "timm.models.swin_transformer",
    "timm.models.swin_transformer_v2",
)


# --------------------------------------------------------------------------- tasks, in notebook order

TASKS = (
    Task(
        name="scaled_dot_product_attention_scratch",
        function="scaled_dot_product_attention_scratch",
        cases=(
            Case("q, k (2, 5, 4), v (2, 5, 3), no mask", lambda rng: attention_inputs(rng, (2,), 5, 5, 4, 3)),
            Case("q (3, 4, 8), k and v (3, 6, 8): 4 queries, 6 keys", lambda rng: attention_inputs(rng, (3,), 4, 6, 8, 8), seed=1),
            Case("causal mask, (2, 6, 4)", lambda rng: attention_inputs(rng, (2,), 6, 6, 4, 4, "causal"), seed=2),
        ),
        reference=_attention_reference,
        compare=close(atol=1e-6, rtol=0),
        call=run_attention,
        forbidden=ATTENTION_SHORTCUTS,
        by_hand="compute softmax(QKᵀ/√d) with the mask yourself, with matrix products and torch.softmax",
    ),
    Task(
        name="multi_head_attention",
        function="MultiHeadAttention",
        cases=(
            Case("self-attention, batch 2, 5 tokens, embed_dim 8, 2 heads", lambda rng: mha_inputs(rng, 2, 5, 5, 8, 2, seed=0)),
            Case("cross-attention, 3 queries, 7 keys, embed_dim 12, 4 heads",
                 lambda rng: mha_inputs(rng, 2, 3, 7, 12, 4, seed=1, self_attention=False), seed=1),
        ),
        reference=_mha_reference,
        compare=close(atol=1e-6, rtol=0),
        call=run_mha,
        forbidden=ATTENTION_SHORTCUTS,
        by_hand="project, split into heads and attend with your own scaled_dot_product_attention_scratch",
    ),
    Task(
        name="patch_embed",
        function="patch_embed",
        cases=(
            Case("2 RGB images 8x8, patches 4x4, dim 6", lambda rng: patch_inputs(rng, 2, 3, 8, 8, 4, 6)),
            Case("1 grey image 6x9, patches 3x3, dim 5", lambda rng: patch_inputs(rng, 1, 1, 6, 9, 3, 5), seed=1),
        ),
        reference=_patch_reference,
        compare=close(atol=1e-10, rtol=1e-10),
        call=run_patch_embed,
        forbidden=PATCH_SHORTCUTS,
        by_hand="cut the patches with reshape and permute and embed them with one matrix product (no convolution or unfold)",
    ),
    Task(
        name="sinusoidal_positions",
        function="sinusoidal_positions",
        cases=(
            Case("10 positions, dim 8", lambda rng: (10, 8)),
            Case("50 positions, dim 32", lambda rng: (50, 32)),
        ),
        reference=_positions_reference,
        compare=close(atol=1e-6, rtol=0),
        call=run_positions,
        forbidden=POSITION_SHORTCUTS,
        by_hand="build the sines and cosines from the formula yourself",
    ),
    Task(
        name="encoder_block",
        function="EncoderBlock",
        cases=(
            Case("batch 2, 5 tokens, dim 8, 2 heads, MLP 16", lambda rng: block_inputs(rng, 2, 5, 8, 2, 16, seed=0)),
            Case("batch 1, 9 tokens, dim 12, 3 heads, MLP 24", lambda rng: block_inputs(rng, 1, 9, 12, 3, 24, seed=1), seed=1),
        ),
        reference=_block_reference,
        compare=close(atol=1e-6, rtol=0),
        call=run_block,
        forbidden=ATTENTION_SHORTCUTS,
        by_hand="wire the pre-norm block yourself from LayerNorm, your MultiHeadAttention and the MLP",
    ),
    Task(
        name="build_vit",
        function="build_vit",
        cases=(
            Case("grey 16x16 digits, patches 4x4, 10 classes, dim 32, depth 2, 4 heads; trained 8 epochs",
                 lambda rng: (16, 4, 1, 10, 32, 2, 4, True)),
            Case("RGB 32x32 images, patches 8x8, 5 classes, dim 16, depth 1, 2 heads (wiring only)",
                 lambda rng: (32, 8, 3, 5, 16, 1, 2, False)),
        ),
        reference=None,
        compare=compare_build_vit,
        call=run_build_vit,
        forbidden=ATTENTION_SHORTCUTS,
        by_hand="assemble the ViT yourself from a patch embedding, a class token, positions and your EncoderBlocks",
    ),
    Task(
        name="shifted_window_mask",
        function="shifted_window_mask",
        cases=(
            Case("8x8 patches, windows 4x4, shift 2", lambda rng: (8, 8, 4, 2)),
            Case("6x6 patches, windows 3x3, shift 1", lambda rng: (6, 6, 3, 1)),
            Case("8x8 patches, windows 4x4, no shift: every pair allowed", lambda rng: (8, 8, 4, 0)),
        ),
        reference=_window_mask_reference,
        compare=equal(dtype="bool", shape=_window_mask_shape),
        call=run_window_mask,
        forbidden=WINDOW_MASK_SHORTCUTS,
        by_hand="label the regions of the rolled map, partition the labels into windows and compare them yourself",
    ),
    Task(
        name="clip_loss",
        function="clip_loss",
        cases=(
            Case("batch 4, dim 8, temperature 0.07", lambda rng: clip_inputs(rng, 4, 8, 0.07)),
            Case("batch 16, dim 32, temperature 1.0", lambda rng: clip_inputs(rng, 16, 32, 1.0), seed=1),
        ),
        reference=_clip_loss_reference,
        compare=close(atol=1e-8, rtol=1e-8),
        call=run_clip_loss,
        forbidden=CLIP_LOSS_SHORTCUTS,
        by_hand="normalise the features and average the two cross-entropies yourself",
    ),
    Task(
        name="zero_shot_classify",
        function="zero_shot_classify",
        cases=(
            Case("20 held-out images, the five shapes, 'a photo of a {}'",
                 lambda rng: (0, 20, ("circle", "square", "triangle", "star", "cross"), "a photo of a {}")),
            Case("12 images, three classes, 'a {} shape'", lambda rng: (1, 12, ("star", "circle", "cross"), "a {} shape")),
            Case("20 images, five shapes whose text embeddings differ in length (0.1x to 20x): normalise them",
                 lambda rng: (4, 20, ("circle", "square", "triangle", "star", "cross"), "a photo of a {}",
                              (5.0, 20.0, 0.1, 3.0, 0.3))),
        ),
        reference=_zero_shot_reference,
        compare=equal(),
        call=run_zero_shot,
        forbidden=ZERO_SHOT_SHORTCUTS,
        by_hand="embed the prompts and images, normalise them and take the most similar prompt yourself",
    ),
)
