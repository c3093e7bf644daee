"""cvcourse_utils.segmentation: data views, models, metrics against scikit-learn, and the figure."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score, jaccard_score

from cvcourse_utils.datasets import load_dataset
from cvcourse_utils.segmentation import (
    FCN,
    OutputOf,
    SkipFCN,
    UNet,
    bilinear_transposed_conv,
    boundary_pixels,
    class_colors,
    confusion_matrix_pixels,
    dice_from_confusion,
    iou_from_confusion,
    pixel_accuracy_from_confusion,
    predict_masks,
    segmentation_loader,
    segmentation_tensors,
    show_segmentation,
    soft_dice_loss,
)


@pytest.fixture(scope="module")
def scenes():
    return load_dataset("shapes_segmentation", "val", n=6, image_size=32)


def test_segmentation_tensors_and_loader_give_fit_ready_batches(scenes):
    images, masks = segmentation_tensors(scenes)
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.float32 and type(images) is torch.Tensor
    assert masks.shape == (6, 32, 32) and masks.dtype == torch.int64 and type(masks) is torch.Tensor
    assert torch.equal(masks[0], scenes[0][1]["mask"].as_subclass(torch.Tensor))
    assert 0 < (masks > 0).float().mean() < 1
    batches = list(segmentation_loader(scenes, batch_size=4, shuffle=True, seed=1))
    assert [len(x) for x, _ in batches] == [4, 2]
    again = list(segmentation_loader(scenes, batch_size=4, shuffle=True, seed=1))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again))


@pytest.mark.parametrize("build", [FCN, UNet])
@pytest.mark.parametrize("size", [(32, 32), (64, 48)])
def test_models_map_images_to_per_pixel_scores_and_learn(build, size):
    torch.manual_seed(0)
    model = build(3, 6, width=4, depth=3)
    x = torch.rand(2, 3, *size)
    out = model(x)
    assert out.shape == (2, 6, *size)
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(out, torch.randint(0, 6, (2, *size)))
    loss.backward()
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [(32, 32), (64, 48)])
def test_skip_fcn_maps_images_to_scores_and_its_skip_carries_detail(size):
    torch.manual_seed(0)
    model = SkipFCN(3, 6, width=4).eval()
    x = torch.rand(2, 3, *size)
    assert model(x).shape == (2, 6, *size)
    # with the 1/8 scores zeroed the output still follows the input: the 1/4 skip reaches it
    model.score_eighth.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    with torch.no_grad():
        assert (model(x[:1]) - model(x[1:])).abs().max() > 1e-6


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_bilinear_transposed_conv_starts_as_bilinear_upsampling(factor):
    layer = bilinear_transposed_conv(3, factor)
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        up = layer(x)
    ref = torch.nn.functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape
    inner = (..., slice(factor, -factor), slice(factor, -factor))
    assert torch.allclose(up[inner], ref[inner], atol=1e-6)


def test_output_of_unwraps_torchvision_dicts():
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    model = OutputOf(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=6)).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 6, 64, 64)


def test_soft_dice_loss_is_zero_for_a_confident_right_answer_and_large_for_a_wrong_one():
    target = torch.randint(0, 3, (2, 8, 8))
    right = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    wrong = torch.nn.functional.one_hot((target + 1) % 3, 3).permute(0, 3, 1, 2).float() * 50
    assert soft_dice_loss(right, target).item() < 1e-3
    assert soft_dice_loss(wrong, target).item() > 0.9
    logits = torch.zeros(2, 3, 8, 8, requires_grad=True)
    soft_dice_loss(logits, target).backward()
    assert logits.grad.abs().sum() > 0


def test_metrics_match_scikit_learn_with_ignored_pixels_and_absent_classes():
    rng = np.random.default_rng(0)
    target = rng.choice([0, 1, 2, 4], size=(3, 9, 9))          # class 3 absent everywhere
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.choice([0, 1, 2, 4], size=target.shape))
    target[:, 0] = 255                                          # an ignored row
    cm = confusion_matrix_pixels(torch.from_numpy(pred), target, 5, ignore_index=255)
    keep = target != 255
    expected = confusion_matrix(target[keep], pred[keep], labels=range(5))
    np.testing.assert_array_equal(cm, expected)
    iou, dice = iou_from_confusion(cm), dice_from_confusion(cm)
    assert np.isnan(iou[3]) and np.isnan(dice[3])
    present = [0, 1, 2, 4]
    np.testing.assert_allclose(iou[present], jaccard_score(target[keep], pred[keep], labels=present, average=None))
    np.testing.assert_allclose(dice[present], f1_score(target[keep], pred[keep], labels=present, average=None))
    np.testing.assert_allclose(dice[present], 2 * iou[present] / (1 + iou[present]))
    assert pixel_accuracy_from_confusion(cm) == pytest.approx((pred[keep] == target[keep]).mean())
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix_pixels(np.array([0, 5]), np.array([0, 1]), 5)


def test_boundary_pixels_mark_both_sides_of_a_class_change():
    mask = np.zeros((6, 6), np.int64)
    mask[:, 3:] = 2
    edge = boundary_pixels(mask, width=1)
    assert edge.shape == (6, 6) and edge.dtype == bool
    assert edge[:, 2:4].all() and not edge[:, :2].any() and not edge[:, 4:].any()
    assert boundary_pixels(mask[None], width=2)[0][:, 1:5].all()


def test_predict_masks_and_the_figure(scenes):
    images, masks = segmentation_tensors(scenes)
    model = UNet(3, 6, width=4)
    model.train()
    pred = predict_masks(model, images, batch_size=4)
    assert pred.shape == masks.shape and pred.dtype == torch.int64 and model.training
    assert class_colors(6).shape == (6, 3) and (class_colors(6)[0] == 0).all()
    fig = show_segmentation(images, masks, {"U-Net": pred}, class_names=scenes.classes, title="t", max_images=3)
    assert len(fig.axes) == 9 and fig.axes[0].get_title() == "image"
