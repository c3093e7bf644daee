"""cvcourse_utils.plots: every figure is titled and labelled, draws what it says, and rejects bad shapes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cvcourse_utils import plots  # noqa: E402
from cvcourse_utils.plots import (  # noqa: E402
    LivePlot, plot_confusion_matrix, plot_history, plot_pr, plot_roc, show_boxes, show_feature_maps,
    show_filters, show_images, show_masks, show_templates,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.images]


def suptitle(fig):
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def supxlabel(fig):
    return fig._supxlabel.get_text() if fig._supxlabel is not None else ""


def pixels(ax):
    """The RGB image an axes shows, as uint8 (H, W, 3)."""
    return np.asarray(ax.images[0].get_array())[..., :3]


# ----------------------------------------------------------------------------- image grids


@pytest.mark.parametrize("images", [
    torch.rand(5, 3, 8, 8),                                   # tensor, 3 channels
    np.random.default_rng(0).random((5, 1, 8, 8)),            # array, 1 channel
    np.random.default_rng(0).random((5, 8, 8)),               # (N, H, W)
    (torch.rand(5, 8, 8, 3) * 255).to(torch.uint8),           # channels last, uint8
    torch.randn(5, 3, 8, 8),                                  # normalised floats, min-max scaled
], ids=["tensor-rgb", "array-grey", "NHW", "NHWC-uint8", "normalised"])
def test_show_images_accepts_tensors_and_arrays(images):
    fig = show_images(images, labels=[0, 1, 2, 1, 0], class_names=["a", "b", "c"], ncols=3, title="Some images")
    assert isinstance(fig, Figure)
    assert suptitle(fig) == "Some images" and supxlabel(fig)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["a", "b", "c", "b", "a"]
    for ax in axes:
        shown = np.asarray(ax.images[0].get_array(), dtype=float)
        assert shown.min() >= 0 and shown.max() <= 1


def test_show_images_without_labels_still_has_a_title_and_no_stray_caption():
    fig = show_images(torch.rand(3, 1, 4, 4))
    assert suptitle(fig) and len(visible_axes(fig)) == 3
    assert supxlabel(fig) == "", "an unlabelled grid needs no '3 images' caption under it (issue 34)"


def test_wrong_predictions_are_red_and_right_ones_are_not():
    labels, predictions = [0, 1, 2, 1], [0, 2, 2, 0]
    fig = show_images(torch.rand(4, 3, 8, 8), labels=labels, predictions=predictions, class_names=["a", "b", "c"])
    titles = [ax.title for ax in visible_axes(fig)]
    red = [to_rgb(t.get_color()) == to_rgb("red") for t in titles]
    assert red == [False, True, False, True]
    assert titles[1].get_text().startswith("c") and "true: b" in titles[1].get_text()
    assert "2 wrong" in supxlabel(fig)


def test_show_images_rejects_bad_shapes():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        show_images(torch.rand(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        show_images(torch.rand(8, 8))
    with pytest.raises(ValueError, match="one entry per image"):
        show_images(torch.rand(3, 1, 8, 8), labels=[0, 1])


def test_show_images_draws_at_most_max_images():
    fig = show_images(torch.rand(10, 1, 4, 4), max_images=4)
    assert len(visible_axes(fig)) == 4


def test_templates_are_min_max_scaled_per_class():
    weights = torch.randn(3, 3 * 4 * 5)
    weights[1] *= 100  # one class with much larger weights must not wash out the others
    fig = show_templates(weights, (3, 4, 5), class_names=["x", "y", "z"], title="Templates")
    axes = visible_axes(fig)
    assert suptitle(fig) == "Templates" and supxlabel(fig)
    assert [ax.get_title() for ax in axes] == ["x", "y", "z"]
    for ax in axes:
        shown = np.asarray(ax.images[0].get_array())
        assert shown.shape == (4, 5, 3)
        assert shown.min() == pytest.approx(0) and shown.max() == pytest.approx(1)


def test_templates_explain_a_wrong_shape():
    with pytest.raises(ValueError, match=r"weights\.T"):
        show_templates(torch.randn(48, 3), (3, 4, 4))
    with pytest.raises(ValueError, match="bias"):
        show_templates(torch.randn(3, 49), (3, 4, 4))


@pytest.mark.parametrize("in_channels", [1, 3, 4])
def test_show_filters(in_channels):
    fig = show_filters(torch.randn(10, in_channels, 5, 5), title="conv1")
    (ax,) = fig.axes
    assert ax.get_title() == "conv1" and ax.get_xlabel() and ax.get_ylabel()
    grid = np.asarray(ax.images[0].get_array())
    per_row = 8 if in_channels in (1, 3) else in_channels
    rows = -(-10 * (1 if in_channels in (1, 3) else in_channels) // per_row)
    assert grid.shape[:2] == (1 + 6 * rows, 1 + 6 * per_row)  # 5x5 filters with 1-pixel padding


def test_show_filters_rejects_a_linear_weight():
    with pytest.raises(ValueError, match=r"\(O, I, kh, kw\)"):
        show_filters(torch.randn(10, 20))


def test_show_feature_maps():
    fig = show_feature_maps(torch.randn(1, 20, 6, 6), max_maps=16)
    axes = visible_axes(fig)
    assert len(axes) == 16 and axes[5].get_title() == "channel 5"
    assert "16 of 20" in suptitle(fig) and supxlabel(fig)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        show_feature_maps(torch.randn(6, 6))


# ----------------------------------------------------------------------------- boxes and masks


def test_show_boxes_draws_the_box_edges_in_the_class_colour():
    image = torch.zeros(3, 32, 32)
    boxes = torch.tensor([[4.0, 6.0, 20.0, 25.0]])
    fig = show_boxes(image, boxes, labels=torch.tensor([2]), scores=torch.tensor([0.93]),
                     class_names=["circle", "square"], title="A detection")
    (ax,) = fig.axes
    assert ax.get_title() == "A detection" and ax.get_xlabel() == "x (pixels)" and ax.get_ylabel() == "y (pixels)"
    drawn = pixels(ax)
    colour = np.array(plots._class_rgb(2))
    for y, x in [(6, 12), (25, 12), (15, 4), (15, 20)]:  # top, bottom, left and right edges
        assert (drawn[y, x] == colour).all(), (y, x, drawn[y, x])
    assert (drawn[15, 12] == 0).all() and (drawn[2, 2] == 0).all()  # inside and outside stay black
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["square 0.93"]


def test_show_boxes_converts_other_box_formats():
    from torchvision import tv_tensors

    cxcywh = tv_tensors.BoundingBoxes([[12.0, 15.0, 16.0, 18.0]], format="CXCYWH", canvas_size=(32, 32))
    drawn = pixels(show_boxes(torch.zeros(3, 32, 32), cxcywh).axes[0])
    assert drawn[6, 12].any() and not drawn[15, 12].any()  # the top edge is at y = 15 - 18 / 2 = 6


def test_show_boxes_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(K, 4\)"):
        show_boxes(torch.zeros(3, 8, 8), torch.tensor([1.0, 1.0, 4.0, 4.0]))
    with pytest.raises(ValueError, match="one entry per box"):
        show_boxes(torch.zeros(3, 8, 8), torch.tensor([[1.0, 1.0, 4.0, 4.0]]), scores=[0.5, 0.2])
    with pytest.raises(ValueError, match="one image"):
        show_boxes(torch.zeros(2, 3, 8, 8), torch.tensor([[1.0, 1.0, 4.0, 4.0]]))


def test_show_masks_colours_classes_but_not_the_background():
    image = torch.full((3, 16, 16), 0.5)
    class_map = torch.zeros(16, 16, dtype=torch.int64)
    class_map[2:6, 2:6] = 2
    class_map[10:14, 8:12] = 3
    fig = show_masks(image, class_map, class_names=["circle", "square", "triangle"], alpha=1.0)
    (ax,) = fig.axes
    drawn = pixels(ax)
    assert (drawn[3, 3] == plots._class_rgb(2)).all() and (drawn[11, 9] == plots._class_rgb(3)).all()
    assert (drawn[0, 0] == 128).all()  # background: the image itself
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["square", "triangle"]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_show_masks_with_instance_masks_blends_with_alpha():
    image = torch.zeros(3, 16, 16)
    masks = torch.zeros(2, 16, 16, dtype=torch.bool)
    masks[0, :4, :4] = True
    masks[1, 8:, 8:] = True
    fig = show_masks(image, masks, alpha=0.5, title="Two objects")
    (ax,) = fig.axes
    drawn = pixels(ax).astype(int)
    expected = np.round(np.array(plots._class_rgb(1)) * 0.5)
    assert np.abs(drawn[1, 1] - expected).max() <= 1 and (drawn[6, 6] == 0).all()
    assert ax.get_title() == "Two objects" and len(ax.get_legend().get_texts()) == 2


def test_show_masks_rejects_bad_shapes():
    with pytest.raises(ValueError, match="masks are"):
        show_masks(torch.zeros(3, 16, 16), torch.zeros(2, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="class map"):
        show_masks(torch.zeros(3, 16, 16), torch.zeros(16))


# ----------------------------------------------------------------------------- evaluation plots


def test_confusion_matrix_writes_the_counts_in_the_cells():
    cm = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    fig = plot_confusion_matrix(cm, class_names=["a", "b", "c"])
    ax = fig.axes[0]
    assert ax.get_title() == "Confusion matrix"
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.flatten()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_normalised_confusion_matrix_rows_sum_to_one():
    cm = torch.tensor([[2, 2], [0, 0]])  # a class that never occurs stays at zero
    ax = plot_confusion_matrix(cm, normalize=True, title="Normalised").axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.50", "0.50", "0.00", "0.00"]
    assert ax.get_title() == "Normalised"
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.ones((2, 3)))
    with pytest.raises(ValueError, match="class names"):
        plot_confusion_matrix(np.ones((2, 2)), class_names=["a", "b", "c"])


def test_roc_has_a_chance_line_and_the_auc_in_its_legend():
    fig = plot_roc([0, 0.5, 1], [0, 0.9, 1], auc=0.95)
    ax = fig.axes[0]
    assert ax.get_title() == "ROC curve"
    assert ax.get_xlabel() == "false positive rate" and ax.get_ylabel() == "true positive rate"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["chance", "ROC (AUC = 0.950)"]
    chance = ax.lines[0]
    assert list(chance.get_xdata()) == [0, 1] and list(chance.get_ydata()) == [0, 1]
    plot_roc([0, 1], [0, 1], auc=0.5, ax=ax, label="class b")  # a second curve: still one chance line
    assert [line.get_label() for line in ax.lines].count("chance") == 1 and len(ax.lines) == 3


def test_pr_curve_has_the_ap_in_its_legend():
    fig = plot_pr(np.array([1.0, 0.5, 0.0]), np.array([0.5, 0.8, 1.0]), ap=0.812, title="PR")
    ax = fig.axes[0]
    assert ax.get_title() == "PR" and ax.get_xlabel() == "recall" and ax.get_ylabel() == "precision"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["PR (AP = 0.812)"]
    assert list(ax.lines[0].get_xdata()) == [0.0, 0.5, 1.0]  # sorted by recall
    with pytest.raises(ValueError, match="equal length"):
        plot_pr([0, 1], [1, 0.5, 0.2])


# ----------------------------------------------------------------------------- training curves


def test_plot_history_one_subplot_per_quantity():
    history = {"train_loss": [1.0, 0.5, 0.3], "train_accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.7, 0.6],
               "val_accuracy": [0.4, 0.6, 0.7], "lr": [0.1, 0.1, 0.1], "epoch_time": [1.0, 1.0, 1.0]}
    fig = plot_history(history, title="Run 1")
    assert suptitle(fig) == "Run 1"
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]  # a constant lr is not plotted
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == ax.get_title()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]
    assert list(fig.axes[0].lines[1].get_ydata()) == [1.1, 0.7, 0.6]
    assert list(fig.axes[0].lines[0].get_xdata()) == [1, 2, 3]


def test_plot_history_shows_a_changing_learning_rate():
    fig = plot_history({"train_loss": [1.0, 0.5], "lr": [0.1, 0.01]})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "learning rate"]
    assert suptitle(fig) == "Training history"
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_history({"epoch_time": [1.0]})


def test_live_plot_updates_without_a_notebook():
    live = LivePlot(metrics=("loss", "accuracy"))
    live.update(1, train_loss=1.0, val_loss=1.2, train_accuracy=0.5, lr=0.1)
    live.update(2, train_loss=0.6, val_loss=0.9, train_accuracy=0.7, lr=0.1)
    loss_ax, accuracy_ax = live.axes
    assert [list(line.get_ydata()) for line in loss_ax.lines] == [[1.0, 0.6], [1.2, 0.9]]
    assert list(accuracy_ax.lines[0].get_xdata()) == [1, 2]
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_title() == "loss" and suptitle(live.fig)
    assert "lr" not in live.history


def test_live_plot_redraws_in_place_in_a_notebook(monkeypatch):
    import IPython
    import IPython.display

    class Handle:
        updates = 0

        def update(self, obj):
            Handle.updates += 1

    shown = []

    def display(obj, display_id=False):
        shown.append((obj, display_id))
        return Handle()

    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Shell", (), {"kernel": object()})())
    monkeypatch.setattr(IPython.display, "display", display)
    live = LivePlot(metrics=("loss",))
    for epoch in range(1, 4):
        live.update(epoch, train_loss=1 / epoch)
    assert len(shown) == 1 and Handle.updates == 2  # shown once, then updated in place
    image, display_id = shown[0]
    assert display_id is True and image.data.startswith(b"\x89PNG")


def test_widget_view_keeps_the_sliders_and_returns_nothing_to_print():
    import ipywidgets as widgets

    calls = []

    def draw(digit: int = 3, scale: float = 2.0) -> torch.Tensor:
        calls.append((digit, scale))
        return torch.zeros(8, 1, 28, 28)  # what interact would print under the figure

    view = plots.widget_view(draw)
    assert view.__name__ == "draw" and view(5, scale=1.0) is None and calls == [(5, 1.0)]
    shown = widgets.interactive(view, digit=widgets.IntSlider(value=3, min=0, max=9))
    assert [c.description for c in shown.children[:-1]] == ["digit", "scale"]  # sliders from draw's signature
    assert shown.result is None and calls[-1] == (3, 2.0)
