"""The course's toy CLIP: an image encoder and a text encoder trained contrastively on captioned shapes.

Both encoders map into one space of ``embed_dim`` unit vectors::

    images (B, 3, S, S) -> ImageEncoder (small CNN)        -> (B, embed_dim), L2-normalised
    tokens (B, L) int64 -> TextEncoder (tiny transformer)  -> (B, embed_dim), L2-normalised
    logits = exp(logit_scale) * image_embeddings @ text_embeddings.T          (B, B)

Training minimises the symmetric InfoNCE loss :func:`clip_contrastive_loss`: the i-th image
must pick the i-th caption among the batch's captions, and the other way round.
Zero-shot classification embeds one prompt per class ("a photo of a {}") and picks the
most similar (:func:`zero_shot_logits`).

For other modules (module 11 conditions an image generator on text): ``load_toy_clip()``
returns the trained model from the cache (training it the first time: seconds in fast mode);
``model.text_encoder(tokens)`` gives one vector per text, ``model.text_encoder.token_features(tokens)``
one per token (B, L, width) with the padding mask, and ``TOKENIZER(texts)`` makes the tokens.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cvcourse_utils.datasets.captions import CAPTION_SHAPES, COLOR_NAMES, TOKENIZER, CaptionTokenizer
from cvcourse_utils.fast import per_mode


class ImageEncoder(nn.Module):
    """A small CNN image encoder: (B, in_channels, S, S) -> (B, embed_dim) (not normalised).

    Three blocks of [3x3 conv, BatchNorm, ReLU, 2x2 max-pool] with ``width, 2 width, 4 width``
    channels, global average pooling and a linear projection.
    """

    def __init__(self, in_channels: int = 3, width: int = 32, embed_dim: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.proj = nn.Linear(4 * width, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(self.features(images))


class TextEncoder(nn.Module):
    """A tiny transformer text encoder: token ids (B, L) int64 (0 = padding) -> (B, embed_dim) (not normalised).

    Token embeddings plus learned position embeddings (``max_length`` of them), ``depth`` pre-norm
    ``nn.TransformerEncoderLayer``s that ignore the padding, a LayerNorm, the mean over the
    real tokens and a linear projection. ``token_features`` returns the per-token states.
    """

    def __init__(self, vocab_size: int = len(TOKENIZER), width: int = 64, depth: int = 2, heads: int = 4,
                 max_length: int = TOKENIZER.max_length, embed_dim: int = 64, pad_id: int = 0) -> None:
        super().__init__()
        self.pad_id, self.max_length, self.width = int(pad_id), int(max_length), int(width)
        self.token_embed = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        self.pos_embed = nn.Parameter(torch.randn(1, max_length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, embed_dim)

    def token_features(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, L) -> (states (B, L, width), padding (B, L) bool, True at padding)."""
        if tokens.shape[1] > self.max_length:
            raise ValueError(f"at most {self.max_length} tokens, got {tokens.shape[1]}")
        padding = tokens == self.pad_id
        padding[:, 0] = False  # an empty text still has one position to attend to
        x = self.token_embed(tokens) + self.pos_embed[:, :tokens.shape[1]]
        return self.norm(self.encoder(x, src_key_padding_mask=padding)), padding

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, padding = self.token_features(tokens)
        keep = (~padding).unsqueeze(-1).to(states.dtype)
        return self.proj((states * keep).sum(1) / keep.sum(1))


class ToyCLIP(nn.Module):
    """An image encoder, a text encoder and a learned temperature (``logit_scale``, CLIP's init 1/0.07).

    ``encode_image`` (B, 3, S, S) and ``encode_text`` (B, L) return unit vectors (B, embed_dim);
    ``forward(images, tokens)`` returns the similarity logits (B_images, B_texts).
    """

    def __init__(self, embed_dim: int = 64, image_width: int = 32, text_width: int = 64, text_depth: int = 2,
                 heads: int = 4, tokenizer: CaptionTokenizer = TOKENIZER) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.image_encoder = ImageEncoder(3, image_width, embed_dim)
        self.text_encoder = TextEncoder(len(tokenizer), text_width, text_depth, heads, tokenizer.max_length, embed_dim,
                                        tokenizer.pad_id)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_encoder(tokens), dim=-1)

    def encode_texts(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Strings -> unit vectors (B, embed_dim), tokenised with the model's tokenizer."""
        device = self.logit_scale.device
        return self.encode_text(self.tokenizer(texts).to(device))

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=100.0)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.scale() * self.encode_image(images) @ self.encode_text(tokens).T


def clip_contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: logits (B, B) with matching pairs on the diagonal -> scalar.

    ``(cross_entropy(logits, arange(B)) + cross_entropy(logits.T, arange(B))) / 2``.
    """
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def prompts_for(class_names: Sequence[str], template: str = "a photo of a {}") -> list[str]:
    """One prompt per class: ``template.format(name)``."""
    return [template.format(name) for name in class_names]


@torch.no_grad()
def zero_shot_logits(model: ToyCLIP, images: torch.Tensor, class_names: Sequence[str] = CAPTION_SHAPES,
                     template: str = "a photo of a {}") -> torch.Tensor:
    """Cosine similarities of images (B, 3, S, S) with one prompt per class: (B, K) (scaled by the model's temperature)."""
    device = model.logit_scale.device
    text = model.encode_texts(prompts_for(class_names, template))
    return model.scale() * model.encode_image(images.to(device)) @ text.T


# --------------------------------------------------------------------------- training with the course's fit


class _ImageSide(nn.Module):
    """What ``fit`` trains: images -> image embeddings; the loss brings in the texts (the targets)."""

    def __init__(self, clip: ToyCLIP) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(images)


class ContrastiveLoss(nn.Module):
    """``loss(image_embeddings, tokens)`` = :func:`clip_contrastive_loss` of the batch, for ``fit``."""

    def __init__(self, clip: ToyCLIP) -> None:
        super().__init__()
        self._clip = [clip]  # not a submodule: its parameters belong to the model being trained

    def logits(self, image_embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        clip = self._clip[0]
        return clip.scale() * image_embeddings @ clip.encode_text(tokens).T

    def forward(self, image_embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return clip_contrastive_loss(self.logits(image_embeddings, tokens))


class _ImageTextPairs(torch.utils.data.Dataset):
    """(image, tokens) pairs; with probability ``grey`` an image turns grey and its colour word is dropped.

    Grey copies teach the image encoder to see a shape's outline without its colour, so that colour,
    which in training always comes with the same few shapes, is not the only cue.
    """

    def __init__(self, dataset, grey: float = 0.0, seed: int = 0) -> None:
        self.dataset, self.grey = dataset, float(grey)
        self.colour_ids = torch.tensor([TOKENIZER.index[c] for c in COLOR_NAMES])
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        image, tokens, _ = self.dataset[i]
        if self.grey > 0 and torch.rand((), generator=self.generator) < self.grey:
            image = (image * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True).expand(3, -1, -1)
            kept = tokens[~torch.isin(tokens, self.colour_ids)]
            tokens = torch.cat([kept, tokens.new_zeros(len(tokens) - len(kept))])
        return image, tokens


def toy_clip_config() -> dict:
    """The config of the course's toy CLIP (fast mode: fewer captioned images and epochs)."""
    return dict(embed_dim=64, image_width=16, text_width=64, text_depth=2, heads=4, n_train=per_mode(full=8000, fast=1500),
                epochs=per_mode(full=12, fast=3), batch_size=per_mode(full=128, fast=32), lr=3e-3, keep=0.7, keep_color=0.3,
                grey=0.5, seed=0)


def build_toy_clip(config: dict) -> ToyCLIP:
    """The :class:`ToyCLIP` a config describes (for ``get_or_train``)."""
    return ToyCLIP(config["embed_dim"], config["image_width"], config["text_width"], config["text_depth"], config["heads"])


def train_toy_clip(model: ToyCLIP, config: dict) -> dict:
    """Train on captioned shapes of the seen pairs only (``keep`` drops attributes from captions); returns the History."""
    from torch.utils.data import DataLoader

    from cvcourse_utils.datasets.captions import load_captioned_shapes
    from cvcourse_utils.seeding import seed_everything
    from cvcourse_utils.training import fit

    seed_everything(config["seed"])
    train_set = load_captioned_shapes("train", n=config["n_train"], seed=config["seed"], pairs="seen", keep=config["keep"],
                                      keep_color=config["keep_color"])
    pairs = _ImageTextPairs(train_set, grey=config.get("grey", 0.0), seed=config["seed"])
    loader = DataLoader(pairs, batch_size=config["batch_size"], shuffle=True, drop_last=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    loss = ContrastiveLoss(model)

    def batch_accuracy(image_embeddings, tokens):  # does each image pick its own caption?
        with torch.no_grad():
            logits = loss.logits(image_embeddings, tokens)
        return (logits.argmax(1) == torch.arange(len(logits), device=logits.device)).float().mean().item()

    return fit(_ImageSide(model), loader, optimizer, epochs=config["epochs"], loss_fn=loss, scheduler=scheduler,
               metrics={"batch_accuracy": batch_accuracy}, progress="overall")


def load_toy_clip(config: dict | None = None, *, device=None) -> ToyCLIP:
    """The toy CLIP trained on captioned shapes, from the cache or trained now (eval mode)."""
    from cvcourse_utils.pretrained import get_or_train

    return get_or_train("toy_clip", build_toy_clip, train_toy_clip, dict(config or toy_clip_config()), device=device)


@torch.no_grad()
def zero_shot_accuracy(model: ToyCLIP, dataset, template: str = "a photo of a {}", batch_size: int = 256) -> float:
    """Accuracy of zero-shot classification over the shape classes of a captioned-shapes dataset."""
    model.eval()
    images, labels = dataset.image_tensor(), torch.as_tensor(dataset.shapes)
    preds = torch.cat([zero_shot_logits(model, images[i:i + batch_size], dataset.classes, template).argmax(1).cpu()
                       for i in range(0, len(images), batch_size)])
    return float((preds == labels).float().mean()) if len(labels) else float("nan")
