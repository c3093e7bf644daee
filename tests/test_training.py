"""cvcourse_utils.training (fit, evaluate, predict) and the model cache (get_or_train, pretrained_or_course_model).

Tiny models and data: the whole file runs in a few seconds on a CPU.
"""
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse_utils import seed_everything
from cvcourse_utils.cache import cache_dir
from cvcourse_utils.pretrained import (TrainingInterrupted, model_key, model_path, recorded_training, timing_path,
                                         weights_file)
from cvcourse_utils.training import (
    History, accuracy, evaluate, fit, get_or_train, predict, pretrained_or_course_model,
)

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is faster than several fighting over busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(n: int = 96, seed: int = 0) -> TensorDataset:
    """Three well separated 2-D clusters, labels 0, 1, 2."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    return TensorDataset(centres[y] + 0.5 * torch.randn(n, 2, generator=g), y)


def small_net() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def loaders(generator: torch.Generator | None = None):
    train = DataLoader(blobs(96, seed=0), batch_size=16, shuffle=True, generator=generator)
    val = DataLoader(blobs(50, seed=1), batch_size=16)  # 50: the last batch is smaller
    return train, val


def without_times(history):
    return {key: values for key, values in history.items() if key != "epoch_time"}


def weights(model):
    return [p.detach().clone() for p in model.state_dict().values()]


def test_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == 0.75


def test_fit_learns_and_records_every_epoch():
    seed_everything(0)
    model, (train, val) = small_net(), loaders()
    history = fit(model, train, torch.optim.Adam(model.parameters(), lr=0.05), epochs=5, val_loader=val,
                  device=CPU, progress=False)
    assert isinstance(history, History) and isinstance(history, dict)
    assert list(history) == ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_time"]
    assert all(len(values) == 5 for values in history.values())
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.9  # the clusters are easy: chance is 1/3
    assert history["lr"] == [0.05] * 5 and all(t > 0 for t in history["epoch_time"])
    assert model.training  # fit leaves the model in training mode


def test_the_scheduler_is_stepped_once_per_epoch():
    seed_everything(0)
    model, (train, _) = small_net(), loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, train, optimizer, epochs=3, scheduler=scheduler, device=CPU, progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])  # the rate each epoch trained with
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_reduce_on_plateau_gets_the_validation_loss():
    seen = []

    class Spy(torch.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics):
            seen.append(metrics)
            super().step(metrics)

    seed_everything(0)
    model, (train, val) = small_net(), loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, train, optimizer, epochs=2, val_loader=val, scheduler=Spy(optimizer), device=CPU,
                  progress=False)
    assert seen == history["val_loss"]


def test_custom_loss_and_metrics():
    seed_everything(0)
    x = torch.randn(40, 3)
    data = DataLoader(TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]])), batch_size=8)
    model = nn.Linear(3, 1)
    mae = lambda out, target: (out - target).abs().mean().item()  # noqa: E731
    history = fit(model, data, torch.optim.SGD(model.parameters(), lr=0.1), epochs=3, loss_fn=nn.MSELoss(),
                  metrics={"mae": mae}, val_loader=data, device=CPU, progress=False)
    assert set(history) == {"train_loss", "train_mae", "val_loss", "val_mae", "lr", "epoch_time"}
    assert history["val_mae"][-1] < history["val_mae"][0]


def run(epochs, generator=None, **options):
    """A fresh session: seed, build, train; returns (history, model)."""
    seed_everything(0)
    train, val = loaders(torch.Generator().manual_seed(7) if generator else None)
    model = small_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.7**epoch)  # needs its epoch count
    history = fit(model, train, optimizer, epochs=epochs, val_loader=val, scheduler=scheduler, device=CPU,
                  progress=False, **options)
    return history, model


def test_two_runs_with_the_same_seed_are_identical():
    first, model_a = run(3)
    second, model_b = run(3)
    assert without_times(first) == without_times(second)
    assert all(torch.equal(a, b) for a, b in zip(weights(model_a), weights(model_b)))
    third, _ = run(1)
    assert third["train_loss"] == first["train_loss"][:1]


@pytest.mark.parametrize("generator", [False, True], ids=["global-rng", "loader-generator"])
def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path, generator, capsys):
    path = tmp_path / "run.pt"
    straight, model_straight = run(4, generator)
    run(2, generator, checkpoint=path)
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 2 and len(saved["history"]["train_loss"]) == 2
    resumed, model_resumed = run(4, generator, checkpoint=path, resume=True)
    assert "resumed from" in capsys.readouterr().out
    assert without_times(resumed) == without_times(straight)
    assert all(torch.equal(a, b) for a, b in zip(weights(model_resumed), weights(model_straight)))
    assert torch.load(path, weights_only=True)["epoch"] == 4


def test_resume_without_a_checkpoint_file_starts_from_scratch(tmp_path):
    history, _ = run(2, checkpoint=tmp_path / "missing.pt", resume=True)
    assert len(history["train_loss"]) == 2 and (tmp_path / "missing.pt").exists()
    with pytest.raises(ValueError, match="checkpoint"):
        run(1, resume=True)


def test_evaluate_uses_eval_mode_and_inference_mode_and_restores_the_mode():
    seed_everything(0)
    model, (_, val) = small_net(), loaders()
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_inference_mode_enabled())))
    result = evaluate(model, val)
    assert set(seen) == {(False, True)} and model.training
    x, y = val.dataset.tensors
    with torch.no_grad():
        logits = model.eval()(x)
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert result["accuracy"] == pytest.approx(accuracy(logits, y))
    evaluate(model, val)
    assert not model.training  # a model in eval mode stays in eval mode


def test_predict_concatenates_outputs_on_the_cpu():
    seed_everything(0)
    model, (_, val) = small_net(), loaders()
    outputs, targets = predict(model, val)
    x, y = val.dataset.tensors
    assert outputs.shape == (50, 3) and outputs.device.type == "cpu" and outputs.dtype == torch.float32
    assert torch.equal(targets, y) and model.training
    with torch.no_grad():
        assert torch.allclose(outputs, model.eval()(x), atol=1e-6)


def test_progress_bars_and_summary_can_be_switched_off(capsys):
    seed_everything(0)
    model, (train, _) = small_net(), loaders()
    fit(model, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, device=CPU, progress=False)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    fit(model, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, device=CPU, progress=True)
    loud = capsys.readouterr()
    assert "epoch 1/1" in loud.out and "train_loss" in loud.out


def test_live_plot_works_without_a_notebook():
    import matplotlib.pyplot as plt

    seed_everything(0)
    model, (train, val) = small_net(), loaders()
    history = fit(model, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, val_loader=val,
                  device=CPU, progress=False, live_plot=True)
    assert len(history["val_loss"]) == 2 and plt.get_fignums() == []  # nothing left open in pyplot


def test_loaders_must_yield_pairs():
    model = small_net()
    triples = DataLoader(TensorDataset(torch.randn(8, 2), torch.zeros(8, dtype=torch.long), torch.zeros(8)),
                         batch_size=4)
    with pytest.raises(ValueError, match=r"\(x, y\) pairs"):
        fit(model, triples, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, device=CPU, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [])


# ----------------------------------------------------------------------------- get_or_train

TRAINED = []  # what train() has been called with


def build(config):
    torch.manual_seed(config["seed"])
    return nn.Sequential(nn.Linear(2, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 3))


def train(model, config):
    TRAINED.append(dict(config))
    train_loader, _ = loaders()
    fit(model, train_loader, torch.optim.Adam(model.parameters(), lr=0.05), epochs=config["epochs"], device=CPU,
        progress=False)


def other_build(config):
    return build(config)


@pytest.fixture
def trained(cache):
    TRAINED.clear()
    yield TRAINED
    TRAINED.clear()


def test_get_or_train_trains_once_then_loads(trained, capsys):
    config = {"hidden": 8, "epochs": 1, "seed": 0}
    first = get_or_train("blobs-mlp", build, train, config, device=CPU)
    assert len(trained) == 1 and not first.training
    out = capsys.readouterr().out
    assert "training 'blobs-mlp' (cached for next time as models/blobs-mlp-" in out and "no time measured yet" in out
    assert "trained 'blobs-mlp' in " in out and str(cache_dir()) not in out  # no home folder on a slide
    path = model_path("blobs-mlp", build, train, config)
    assert path.exists() and path.parent.name == "models" and path.name.startswith("blobs-mlp-")

    second = get_or_train("blobs-mlp", build, train, {"seed": 0, "epochs": 1, "hidden": 8}, device=CPU)  # key order
    assert len(trained) == 1 and not second.training
    assert "loaded cached model 'blobs-mlp'" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(weights(first), weights(second)))
    assert not all(torch.equal(a, b) for a, b in zip(weights(build(config)), weights(second)))  # trained, not fresh

    get_or_train("blobs-mlp", build, train, {"hidden": 8, "epochs": 2, "seed": 0}, device=CPU)
    assert len(trained) == 2 and trained[-1]["epochs"] == 2  # a changed config trains again
    assert len(list(path.parent.glob("*.pt"))) == 2 and not list(path.parent.glob("*.tmp"))


def test_a_corrupt_cached_model_is_reported_and_trained_again(trained, capsys):
    config = {"hidden": 4, "epochs": 1, "seed": 0}
    get_or_train("blobs-mlp", build, train, config, device=CPU)
    other = model_path("blobs-mlp", build, train, {**config, "hidden": 5})
    other.write_bytes(b"another model")
    path = model_path("blobs-mlp", build, train, config)
    path.write_bytes(path.read_bytes()[:100])  # truncated, as after a crash
    capsys.readouterr()
    model = get_or_train("blobs-mlp", build, train, config, device=CPU)
    out = capsys.readouterr().out
    assert f"could not load the cached model 'blobs-mlp' (models/{path.name}: " in out and "training it again" in out
    assert len(trained) == 2 and other.read_bytes() == b"another model"
    state = torch.load(path, weights_only=True)  # overwritten with a good file
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_get_or_train_records_how_long_training_took_and_says_it_next_time(trained, capsys):
    config = {"hidden": 4, "epochs": 1, "seed": 0}
    get_or_train("blobs-mlp", build, train, config, device=CPU)
    record = recorded_training("blobs-mlp")
    assert record == json.loads(timing_path(model_path("blobs-mlp", build, train, config)).read_text())
    assert record["name"] == "blobs-mlp" and record["fast"] is True and record["device"] == "cpu"
    assert 0 < record["seconds"] < 60 and record["cpu_seconds"] > 0
    capsys.readouterr()
    get_or_train("blobs-mlp", build, train, {**config, "hidden": 5}, device=CPU)  # another version: the time last time
    assert "in the course cache): it took " in capsys.readouterr().out
    assert recorded_training("another-model") is None


def interrupted(model, config):
    TRAINED.append(dict(config))
    raise KeyboardInterrupt  # Ctrl-C, or the notebook's stop button, in the middle of training


def test_an_interrupted_training_caches_nothing_and_says_so_in_one_line(trained, capsys):
    config = {"hidden": 4, "epochs": 1, "seed": 0}
    with pytest.raises(TrainingInterrupted) as caught:
        get_or_train("blobs-mlp", build, interrupted, config, device=CPU)
    assert isinstance(caught.value, KeyboardInterrupt)  # Run All still stops here
    message = caught.value._render_traceback_()  # what Jupyter shows instead of a traceback
    assert message == ["training 'blobs-mlp' was interrupted; nothing was cached. Run the cell again, "
                       "or `cvcourse prepare` before class."]
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not list((cache_dir() / "models").glob("*")) and len(trained) == 1  # no weights, no timing, no temp file


def test_fit_can_show_one_bar_over_the_whole_run(capsys):
    train_loader, _ = loaders()
    model = small_net()
    fit(model, train_loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, device=CPU, progress="overall")
    captured = capsys.readouterr()
    assert "epoch 1/2" not in captured.out  # no summary lines: one bar instead
    assert f"{2 * len(train_loader)}/{2 * len(train_loader)}" in captured.err and "epoch=2/2" in captured.err
    with pytest.raises(ValueError, match="progress must be"):
        fit(model, train_loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, device=CPU, progress="bars")


def test_the_key_depends_on_name_config_code_and_fast_mode(monkeypatch):
    config = {"hidden": 4, "epochs": 1, "seed": 0}
    key = model_key("m", build, train, config)
    assert key == model_key("m", build, train, dict(reversed(config.items())))
    assert key != model_key("n", build, train, config)
    assert key != model_key("m", build, train, {**config, "epochs": 2})
    assert key != model_key("m", other_build, train, config)
    monkeypatch.setenv("CVCOURSE_FAST", "0")
    assert key != model_key("m", build, train, config)


# ----------------------------------------------------------------------------- pretrained_or_course_model


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub folder, and no downloads: any attempt fails the test."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path / "hub"


def test_without_cached_weights_the_course_model_is_used(hub, capsys, monkeypatch):
    from torchvision.models import ResNet18_Weights

    monkeypatch.setenv("CVCOURSE_FAST", "1")
    course_model = nn.Linear(2, 3)
    model = pretrained_or_course_model(ResNet18_Weights.DEFAULT, lambda: course_model)
    assert model is course_model and not model.training
    out = capsys.readouterr().out
    assert "not on this machine" in out and str(hub) in out
    assert pretrained_or_course_model("resnet18", lambda: course_model, download=True) is course_model
    assert "not on this machine" in capsys.readouterr().out  # fast mode never downloads


def test_a_failed_download_falls_back_to_the_course_model(hub, capsys, monkeypatch):
    monkeypatch.setenv("CVCOURSE_FAST", "0")
    course_model = nn.Linear(2, 3)
    assert pretrained_or_course_model("resnet18", lambda: course_model, download=True) is course_model
    out = capsys.readouterr().out
    assert "could not load torchvision's weights" in out and "tried to download" in out


def test_cached_torchvision_weights_are_used(hub, capsys):
    from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

    weights = SqueezeNet1_1_Weights.DEFAULT
    torch.manual_seed(3)
    saved = squeezenet1_1().state_dict()
    weights_file(weights).parent.mkdir(parents=True)
    torch.save(saved, weights_file(weights))
    model = pretrained_or_course_model(weights, lambda: pytest.fail("the fallback was used"))
    assert "using torchvision's squeezenet1_1" in capsys.readouterr().out and not model.training
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
