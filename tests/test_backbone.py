"""The course backbone: built, trained once by get_or_train, cached and loaded; its features and head."""
import pytest
import torch
from torch import nn

from cvcourse_utils import backbone as backbone_module
from cvcourse_utils.backbone import BACKBONE_NAME, backbone_config, build_backbone, course_backbone, train_backbone
from cvcourse_utils.models import CifarResNet
from cvcourse_utils.pretrained import model_path, pretrained_or_course_model


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("CVCOURSE_FAST", "1")


def test_config_is_the_same_network_in_both_modes(monkeypatch):
    monkeypatch.setenv("CVCOURSE_FAST", "1")
    fast = backbone_config()
    monkeypatch.setenv("CVCOURSE_FAST", "0")
    full = backbone_config()
    architecture = ("blocks", "width", "num_classes", "dataset", "difficulty")
    assert {k: fast[k] for k in architecture} == {k: full[k] for k in architecture}
    assert fast["n_train"] < full["n_train"] and fast["epochs"] <= full["epochs"]


def test_build_is_seeded_by_the_config_and_leaves_the_callers_random_state(fast):
    config = backbone_config()
    torch.manual_seed(123)
    first = build_backbone(config)
    after_first = torch.rand(3)
    torch.manual_seed(456)  # another caller's state: the same initial weights all the same
    second = build_backbone(config)
    assert first.state_dict().keys() == second.state_dict().keys()
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after_first), "building the backbone must not consume the caller's random numbers"
    other = build_backbone({**config, "seed": config["seed"] + 1})
    assert not torch.equal(other.features[0][0].weight, first.features[0][0].weight), "the seed decides the weights"


def test_course_backbone_trains_once_then_loads_from_the_cache(cache, fast, capsys):
    first = course_backbone(device="cpu")
    out = capsys.readouterr().out
    assert "training" in out
    assert model_path(BACKBONE_NAME, build_backbone, train_backbone, backbone_config()).exists()
    second = course_backbone(device="cpu")
    assert "loaded cached model" in capsys.readouterr().out
    assert isinstance(second, CifarResNet) and not second.training
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert second is not first  # a new model each call: fine-tuning one leaves the other alone
    x = torch.rand(2, 3, 32, 32)
    maps = second.features(x)
    assert second.feature_channels == 64 and maps.shape == (2, 64, 8, 8)
    assert second.head(maps).shape == (2, 5)


def test_the_backbone_was_actually_trained(cache, fast):
    trained = course_backbone(device="cpu")
    untrained = build_backbone(backbone_config())
    moved = [k for k, v in untrained.state_dict().items() if v.is_floating_point() and not torch.equal(v, trained.state_dict()[k])]
    assert len(moved) > 0.9 * sum(v.is_floating_point() for v in untrained.state_dict().values())


def test_pretrained_or_course_model_falls_back_to_the_backbone(cache, fast, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no torchvision weights here
    model = pretrained_or_course_model("resnet18", fallback=lambda: course_backbone(device="cpu"))
    assert isinstance(model, CifarResNet) and "using the course model instead" in capsys.readouterr().out


def test_a_new_head_reuses_the_features(cache, fast):
    model = course_backbone(device="cpu")
    model.head[-1] = nn.Linear(model.feature_channels, 3)
    assert model(torch.rand(4, 3, 32, 32)).shape == (4, 3)
    assert backbone_module.__all__ and "course_backbone" in backbone_module.__all__
