"""cvcourse_utils.selfsup: the losses against their formulas, the augmentations, masking, attention IoU, and
SimCLR / DINO / MAE trained briefly in fast mode and cached."""
import math

import pytest
import torch
import torch.nn.functional as F

from cvcourse_utils.datasets import load_dataset
from cvcourse_utils.selfsup import (
    FeaturesOf,
    attention_masks,
    augment_batch,
    build_dino,
    build_mae,
    build_simclr,
    cls_attention,
    collapsed_dino_config,
    colour_jitter,
    dino_config,
    dino_loss,
    dino_views,
    load_dino,
    load_mae,
    load_simclr,
    mae_config,
    mask_iou,
    masked_patch_loss,
    mean_patch_baseline,
    nt_xent_loss,
    random_masking,
    random_resized_crop,
    shapes_with_masks,
    simclr_config,
    simclr_view,
    SimCLR,
    train_supervised,
    vit_tokens,
)


def test_nt_xent_matches_the_formula_row_by_row():
    gen = torch.Generator().manual_seed(0)
    n, tau = 5, 0.3
    z1, z2 = torch.randn(n, 8, generator=gen), torch.randn(n, 8, generator=gen)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / tau
    rows = []
    for i in range(2 * n):
        others = [k for k in range(2 * n) if k != i]
        rows.append(torch.logsumexp(sim[i, others], 0) - sim[i, (i + n) % (2 * n)])
    assert torch.allclose(nt_xent_loss(z1, z2, tau), torch.stack(rows).mean(), atol=1e-6)
    # a huge temperature: every candidate alike, the loss of a uniform guess among 2N - 1
    assert nt_xent_loss(z1, z2, 1e5).item() == pytest.approx(math.log(2 * n - 1), abs=1e-3)
    # identical, well separated views: almost no loss at a low temperature
    assert nt_xent_loss(torch.eye(n), torch.eye(n), 0.05).item() < 1e-3
    with pytest.raises(ValueError, match="must both be"):
        nt_xent_loss(z1, z2[:3])


def test_augmentations_change_each_image_differently_and_keep_the_range():
    x = torch.rand(6, 3, 32, 32)
    gen = torch.Generator().manual_seed(0)
    identity = random_resized_crop(x, 32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False, generator=gen)
    assert torch.allclose(identity, x, atol=1e-5)
    small = random_resized_crop(x, 16, generator=gen)
    assert small.shape == (6, 3, 16, 16)
    views = augment_batch(x, generator=gen)
    assert views.shape == x.shape and views.min() >= 0 and views.max() <= 1
    same = augment_batch(x[:1].repeat(4, 1, 1, 1), generator=gen)
    assert not torch.allclose(same[0], same[1]), "each image gets its own random view"
    grey = colour_jitter(x, strength=0.0, p_grey=1.0, generator=gen)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])


def test_simclr_view_follows_the_config_and_the_head_can_batch_normalise():
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(8, 3, 1, 1, generator=gen) * 0.8 + 0.1 * torch.rand(8, 3, 32, 32, generator=gen)).clamp(0, 1)
    config = {**simclr_config(), "crop_scale": [1.0, 1.0], "colour_strength": 0.0, "grey": 0.0}
    view = simclr_view(x, config, torch.Generator().manual_seed(0))
    # (nearly) full-area crops, no brightness, contrast or saturation change: only the channels are shuffled, so
    # each view keeps its own image's mean brightness
    assert view.shape == x.shape and view.min() >= 0 and view.max() <= 1
    assert torch.allclose(view.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=0.05)
    grey = simclr_view(x, {**config, "grey": 1.0}, torch.Generator().manual_seed(0))
    assert torch.allclose(grey[:, 0], grey[:, 1])
    with_bn, without = SimCLR(width=4, projection_bn=True), SimCLR(width=4)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in with_bn.projector)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in without.projector)
    assert with_bn(x).shape == (8, 64) and with_bn.encode(x).shape == (8, 16)


def test_dino_loss_centring_and_teacher_update():
    gen = torch.Generator().manual_seed(1)
    student = [torch.randn(3, 10, generator=gen) for _ in range(3)]
    teacher = [torch.randn(3, 10, generator=gen) for _ in range(2)]
    center = torch.randn(1, 10, generator=gen)
    pairs = [-(F.softmax((teacher[i] - center) / 0.04, -1) * F.log_softmax(student[j] / 0.1, -1)).sum(-1).mean()
             for i in range(2) for j in range(3) if i != j]
    assert torch.allclose(dino_loss(student, teacher, center), torch.stack(pairs).mean(), atol=1e-5)
    assert not torch.allclose(dino_loss(student, teacher, None), dino_loss(student, teacher, center))

    model = build_dino(dino_config())
    before = [p.clone() for p in model.teacher_vit.parameters()]
    with torch.no_grad():
        for p in model.vit.parameters():
            p.add_(1.0)
    model.update_teacher(0.9)
    for t, b, s in zip(model.teacher_vit.parameters(), before, model.vit.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-6)
    assert all(not p.requires_grad for p in model.teacher_head.parameters())


def test_vit_tokens_take_local_crops_and_match_the_vit_at_full_size():
    model = build_dino(dino_config()).eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(vit_tokens(model.vit, x), model.vit.tokens(x), atol=1e-5)
    assert vit_tokens(model.vit, torch.rand(2, 3, 16, 16)).shape == (2, 17, 64)
    assert model.student_out(torch.rand(2, 3, 16, 16)).shape == (2, dino_config()["out_dim"])


def test_dino_views_are_multi_crops_without_colour_change_by_default():
    x = torch.rand(4, 3, 32, 32)
    config = dino_config()
    views = dino_views(x, config, torch.Generator().manual_seed(0))
    assert [tuple(v.shape) for v in views] == [(4, 3, 32, 32)] * 2 + [(4, 3, 16, 16)] * config["n_local"]
    flat = torch.rand(4, 3, 1, 1).expand(4, 3, 32, 32)  # one colour per image: any crop of it is that colour
    kept = dino_views(flat, config, torch.Generator().manual_seed(0))
    assert all(torch.allclose(v, flat[..., :v.shape[-2], :v.shape[-1]], atol=1e-5) for v in kept)
    recoloured = dino_views(flat, {**config, "colour_jitter": True}, torch.Generator().manual_seed(0))[0]
    assert not torch.allclose(recoloured, flat, atol=1e-2)


def test_a_random_dinos_two_views_agree_only_without_the_colour_change():
    """Why DINO's crops keep their colours here: with SimCLR's colour change a random ViT's outputs on two views
    of one image are nearly unrelated, so the centred teacher targets carry no signal and the loss goes uniform."""
    images = load_dataset("shapes", "train", n=128, difficulty="cluttered", as_numpy=True)[0]
    images = torch.from_numpy(images)

    def agreement(colour_jitter: bool) -> float:
        config = {**dino_config(), "colour_jitter": colour_jitter}
        model = build_dino(config)
        a, b = (model.teacher_out(v) for v in dino_views(images, config, torch.Generator().manual_seed(0))[:2])
        return F.cosine_similarity(a - a.mean(0), b - b.mean(0), dim=0).mean().item()

    assert agreement(False) > 0.6 > 0.3 > agreement(True)


def test_random_masking_and_the_masked_patch_loss():
    gen = torch.Generator().manual_seed(0)
    keep, mask = random_masking(4, 64, 0.75, gen)
    assert keep.shape == (4, 16) and mask.shape == (4, 64) and mask.sum(1).eq(48).all()
    assert not mask.gather(1, keep).any(), "kept patches are not masked"
    with pytest.raises(ValueError, match="masking ratio"):
        random_masking(4, 64, 1.0)
    target = torch.rand(4, 64, 48, generator=gen)
    pred = target.clone()
    pred[~mask] = 5.0  # errors on visible patches do not count
    assert masked_patch_loss(pred, target, mask).item() == 0.0
    pred[mask] += 0.5
    assert masked_patch_loss(pred, target, mask).item() == pytest.approx(0.25)
    baseline = mean_patch_baseline(target, mask)
    assert torch.allclose(baseline[0, 0], target[0][~mask[0]].mean(0))


def test_mae_encoder_sees_only_the_visible_patches():
    model = build_mae(mae_config())
    x = torch.rand(3, 3, 32, 32)
    keep, _ = random_masking(3, 64, 0.75, torch.Generator().manual_seed(0))
    assert model.encode(x, keep).shape == (3, 17, 64)
    assert model(x, keep).shape == (3, 64, 48)
    assert FeaturesOf(model)(x).shape == (3, 64)


def test_attention_masks_keep_the_mass_and_iou():
    one_hot = torch.zeros(1, 4, 4)
    one_hot[0, 1, 2] = 1.0
    kept = attention_masks(one_hot, mass=0.6)
    assert kept.sum() == 1 and kept[0, 1, 2]
    uniform = attention_masks(torch.ones(2, 4, 4), mass=0.6, size=8)
    assert uniform.shape == (2, 8, 8) and uniform[0].sum() == 10 * 4  # 10 of 16 patches hold 60 %, 2x2 pixels each
    a = torch.zeros(1, 4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, :2] = True
    b[0, 1:3] = True
    assert mask_iou(a, b).item() == pytest.approx(4 / 12)
    with pytest.raises(ValueError):
        mask_iou(a, b[:, :2])


def test_shapes_with_masks_are_the_test_images():
    images, labels, masks = shapes_with_masks(20)
    x, y = load_dataset("shapes", "test", n=20, difficulty="cluttered", as_numpy=True)
    assert torch.equal(images, torch.from_numpy(x)) and torch.equal(labels, torch.from_numpy(y))
    assert masks.dtype == torch.bool and 0.02 < masks.float().mean() < 0.6
    attention = cls_attention(build_dino(dino_config()).vit, images[:2])
    assert attention.shape == (2, 8, 8) and (attention >= 0).all()
    assert (attention.sum((1, 2)) < 1).all(), "the class token's attention to itself is left out"


def test_pretraining_is_cached_and_records_its_time(cache):
    simclr = load_simclr()
    assert simclr.train_seconds[1] > 0 and torch.isfinite(simclr.loss_curve[0])
    again = load_simclr()
    assert torch.equal(again.train_seconds, simclr.train_seconds)
    for p, q in zip(simclr.parameters(), again.parameters()):
        assert torch.equal(p.cpu(), q.cpu())
    assert load_dino().vit.features(torch.rand(2, 3, 32, 32)).shape == (2, 64)
    assert load_dino(collapsed_dino_config()).train_seconds[1] > 0
    assert load_mae().train_seconds[1] > 0
    assert len(list((cache / "models").glob("*.pt"))) == 4


def test_supervised_baseline_trains_and_rejects_bad_input():
    x = torch.rand(10, 3, 32, 32)
    y = torch.arange(10) % 5
    model = train_supervised(x, y, steps=3, batch_size=5, progress=False)
    assert model(x).shape == (10, 5) and not model.training
    with pytest.raises(ValueError, match="as many labels"):
        train_supervised(x, y[:4], steps=1)
    # fine-tuning a wider encoder than ``width``: the linear layer takes the encoder's own feature count
    wider = build_simclr({**simclr_config(), "width": 24}).encoder
    tuned = train_supervised(x, y, encoder=wider, steps=2, batch_size=5, progress=False)
    assert tuned[1].in_features == 96 and tuned(x).shape == (10, 5)
