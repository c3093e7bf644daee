"""A tiny Vision Transformer (ViT) and its parts: patches, positions, pre-norm blocks, attention rollout.

Shapes, with B images of C x H x W, patches of P x P, N = (H / P) (W / P) patches, T = N + 1
tokens (the class token first) and D features per token::

    images (B, C, H, W) -> PatchEmbedding -> (B, N, D) -> [cls] + positions -> (B, T, D)
      -> depth x EncoderBlock (pre-norm: x + MHA(LN(x)), then x + MLP(LN(x))) -> LN -> cls token -> Linear -> logits

The reference implementations of lab 06's tasks use PyTorch's own layers (``nn.MultiheadAttention``
inside :class:`EncoderBlock`), so a block returns the attention weights of every head, which
:meth:`TinyViT.attention_maps` collects and :func:`attention_rollout` combines over the layers.
:func:`load_tiny_vit` trains a ViT on the built-in digits (or shapes) once and caches it.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from cvcourse_utils.fast import per_mode


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping patches, flattened channel-first.

    images (B, C, H, W), H and W multiples of ``patch_size`` -> (B, N, C * P * P), patches row by row;
    each patch is flattened in the order of a Conv2d kernel ``(C, P, P)``.
    """
    b, c, h, w = images.shape
    p = int(patch_size)
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}")
    x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, P, P)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def sinusoidal_positions(n_positions: int, dim: int) -> torch.Tensor:
    """The fixed encoding of "Attention is all you need": (n_positions, dim) float32, dim even.

    PE[pos, 2i] = sin(pos / 10000^(2i / dim)), PE[pos, 2i + 1] = cos(pos / 10000^(2i / dim)).
    """
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    pe = torch.zeros(n_positions, dim, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe.float()


class PatchEmbedding(nn.Module):
    """Patches to tokens with one strided convolution: (B, C, H, W) -> (B, N, dim).

    A Conv2d with kernel = stride = P is a Linear layer applied to every flattened patch
    (``patchify(x, P) @ proj.weight.reshape(dim, -1).T + proj.bias``).
    """

    def __init__(self, in_channels: int, patch_size: int, dim: int) -> None:
        super().__init__()
        self.patch_size = int(patch_size)
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block, batch first: (B, T, dim) -> (B, T, dim).

    ``x = x + MHA(LN1(x)); x = x + MLP(LN2(x))`` with MLP = Linear(dim, mlp_ratio dim), GELU, Linear.
    After each forward ``last_attention`` holds the attention weights (B, heads, T, T) when
    ``keep_attention`` is True (set by :meth:`TinyViT.attention_maps`).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                                 nn.Dropout(dropout))
        self.keep_attention = False
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        out, weights = self.attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=self.keep_attention,
                                 average_attn_weights=False)
        self.last_attention = weights.detach() if self.keep_attention else None
        x = x + out
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """A small ViT classifier: (B, in_channels, image_size, image_size) -> logits (B, num_classes).

    Patch embedding (strided Conv2d), a learned class token, learned position embeddings
    (T = N + 1 of them), ``depth`` pre-norm :class:`EncoderBlock`s, a final LayerNorm and a
    linear head on the class token. ``features(x)`` returns the class token (B, dim).
    """

    def __init__(self, image_size: int = 28, patch_size: int = 4, in_channels: int = 1, num_classes: int = 10,
                 dim: int = 64, depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.image_size, self.patch_size = int(image_size), int(patch_size)
        self.num_patches = (image_size // patch_size) ** 2
        self.patch_embed = PatchEmbedding(in_channels, patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, self.num_patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Every token after the last block and the final LayerNorm: (B, T, dim), class token first."""
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], dim=1) + self.pos_embed
        for block in self.blocks:
            t = block(t)
        return self.norm(t)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights of every layer and head: (depth, B, heads, T, T) (rows sum to 1)."""
        was_training = self.training
        self.eval()
        for block in self.blocks:
            block.keep_attention = True
        try:
            self.tokens(x)
            return torch.stack([block.last_attention for block in self.blocks])
        finally:
            for block in self.blocks:
                block.keep_attention, block.last_attention = False, None
            self.train(was_training)


def attention_rollout(attention: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema, 2020): how much each token draws on each input token.

    attention (depth, B, heads, T, T) -> (B, T, T). Heads are averaged, the residual path is
    added (``residual * I + (1 - residual) * A``), rows are renormalised, and the layers are
    multiplied from the first to the last. Row 0, columns 1: the class token's map over the patches.
    """
    a = attention.mean(dim=2)
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    a = residual * eye + (1 - residual) * a
    a = a / a.sum(dim=-1, keepdim=True)
    out = a[0]
    for layer in a[1:]:
        out = layer @ out
    return out


def cls_attention_grid(attention: torch.Tensor) -> torch.Tensor:
    """The class token's attention over the patches as images: (..., T, T) -> (..., side, side)."""
    row = attention[..., 0, 1:]
    side = int(round(math.sqrt(row.shape[-1])))
    return row.reshape(*row.shape[:-1], side, side)


# --------------------------------------------------------------------------- trained and cached

def digits_vit_config() -> dict:
    """The config of the course's tiny ViT on the 28x28 digits (fast mode: fewer images and epochs)."""
    return dict(dataset="digits", image_size=28, patch_size=7, in_channels=1, num_classes=10, dim=64, depth=4,
                heads=4, mlp_ratio=2.0, epochs=per_mode(full=40, fast=3), lr=2e-3, weight_decay=0.05,
                batch_size=64, n_train=per_mode(full=None, fast=300), seed=0)


def build_tiny_vit(config: dict) -> TinyViT:
    """The :class:`TinyViT` a config describes (for ``get_or_train``)."""
    return TinyViT(config["image_size"], config["patch_size"], config["in_channels"], config["num_classes"],
                   config["dim"], config["depth"], config["heads"], config["mlp_ratio"])


def train_tiny_vit(model: TinyViT, config: dict) -> dict:
    """Train on the config's built-in dataset with AdamW, a cosine schedule and small random shifts; returns the History."""
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.seeding import seed_everything
    from cvcourse_utils.training import fit

    seed_everything(config["seed"])
    options = {} if config["dataset"] == "digits" else {"difficulty": config.get("difficulty", "cluttered")}
    augment = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    train_set = load_dataset(config["dataset"], "train", n=config["n_train"], image_size=config["image_size"],
                             transform=augment, **options)
    loader = DataLoader(train_set, batch_size=config["batch_size"], shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    return fit(model, loader, optimizer, epochs=config["epochs"], scheduler=scheduler, progress="overall")


def load_tiny_vit(config: dict | None = None, *, device=None) -> TinyViT:
    """The tiny ViT trained on the 28x28 digits (or ``config``), from the cache or trained now (eval mode)."""
    from cvcourse_utils.pretrained import get_or_train

    return get_or_train("tiny_vit", build_tiny_vit, train_tiny_vit, dict(config or digits_vit_config()), device=device)
