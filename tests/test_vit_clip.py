"""The tiny ViT's parts and the toy CLIP: shapes, equivalences, rollout, losses and a short training."""
import math

import pytest
import torch
import torch.nn.functional as F

from cvcourse_utils.clip import (
    ToyCLIP,
    build_toy_clip,
    clip_contrastive_loss,
    prompts_for,
    toy_clip_config,
    train_toy_clip,
    zero_shot_accuracy,
    zero_shot_logits,
)
from cvcourse_utils.datasets import TOKENIZER
from cvcourse_utils.datasets.captions import load_captioned_shapes
from cvcourse_utils.vit import (
    EncoderBlock,
    PatchEmbedding,
    TinyViT,
    attention_rollout,
    cls_attention_grid,
    patchify,
    sinusoidal_positions,
)


def test_patch_embedding_is_a_linear_map_of_the_patches():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 12, 8)
    embed = PatchEmbedding(3, 4, 5)
    w = embed.proj.weight.reshape(5, -1)
    assert torch.allclose(embed(x), patchify(x, 4) @ w.T + embed.proj.bias, atol=1e-5)
    assert patchify(x, 4).shape == (2, 6, 48)
    with pytest.raises(ValueError):
        patchify(x, 5)


def test_sinusoidal_positions_formula():
    pe = sinusoidal_positions(20, 8)
    assert pe.shape == (20, 8)
    assert math.isclose(pe[7, 2].item(), math.sin(7 / 10000 ** (2 / 8)), abs_tol=1e-6)
    assert math.isclose(pe[7, 3].item(), math.cos(7 / 10000 ** (2 / 8)), abs_tol=1e-6)


def test_encoder_block_keeps_shapes_and_attention():
    block = EncoderBlock(16, 4).eval()
    x = torch.randn(3, 7, 16)
    assert block(x).shape == x.shape and block.last_attention is None
    block.keep_attention = True
    block(x)
    assert block.last_attention.shape == (3, 4, 7, 7)


def test_tiny_vit_shapes_attention_and_rollout():
    torch.manual_seed(0)
    vit = TinyViT(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=32, depth=2, heads=4)
    x = torch.rand(2, 3, 16, 16)
    assert vit(x).shape == (2, 5) and vit.features(x).shape == (2, 32)
    att = vit.attention_maps(x)
    assert att.shape == (2, 2, 4, 17, 17)
    assert torch.allclose(att.sum(-1), torch.ones(()), atol=1e-5)
    roll = attention_rollout(att)
    assert roll.shape == (2, 17, 17) and torch.allclose(roll.sum(-1), torch.ones(()), atol=1e-5)
    assert cls_attention_grid(roll).shape == (2, 4, 4)
    one_layer = attention_rollout(att[:1], residual=0.0)
    assert torch.allclose(one_layer, att[0].mean(1), atol=1e-6)
    assert all(b.last_attention is None for b in vit.blocks)


def test_clip_loss_and_encoders():
    torch.manual_seed(0)
    logits = torch.randn(6, 6)
    target = torch.arange(6)
    assert torch.isclose(clip_contrastive_loss(logits), (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2)
    model = ToyCLIP(embed_dim=16, image_width=8, text_width=16, text_depth=1).eval()
    images = torch.rand(4, 3, 32, 32)
    tokens = TOKENIZER(["a red star", "a photo of a circle", "a", "a large blue cross in the centre"])
    u, w = model.encode_image(images), model.encode_text(tokens)
    assert u.shape == w.shape == (4, 16) and torch.allclose(u.norm(dim=1), torch.ones(4), atol=1e-5)
    states, padding = model.text_encoder.token_features(tokens)
    assert states.shape == (4, TOKENIZER.max_length, 16) and padding[2, 1] and not padding[2, 0]
    assert model(images, tokens).shape == (4, 4)
    # padding does not change a text's embedding
    short = TOKENIZER(["a red star"], length=5)
    assert torch.allclose(model.encode_text(short), w[:1], atol=1e-5)
    assert zero_shot_logits(model, images, ["star", "circle"]).shape == (4, 2)
    assert prompts_for(["star"], "a {} shape") == ["a star shape"]


def test_toy_clip_learns_in_a_few_seconds():
    config = dict(toy_clip_config(), n_train=640, epochs=3, batch_size=32, embed_dim=32, image_width=8, text_width=32,
                  text_depth=1)
    model = build_toy_clip(config)
    history = train_toy_clip(model, config)
    assert history["train_loss"][-1] < history["train_loss"][0] - 0.2
    assert history["train_batch_accuracy"][-1] > 2 / 32  # each image finds its own caption among 32 more often than chance
    seen = load_captioned_shapes("val", n=100, pairs="seen")
    assert 0.0 <= zero_shot_accuracy(model.eval(), seen) <= 1.0
