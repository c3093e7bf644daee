"""Training a PyTorch model: ``fit``, ``evaluate`` and ``predict``, the bookkeeping written once.

    history = fit(model, train_loader, optimizer, epochs=5, val_loader=val_loader)
    plot_history(history)

Any model, loss and optimizer work, as long as the loaders yield ``(x, y)`` batches and the
loss is ``loss_fn(model(x), y)``. On CUDA the forward pass runs in bf16 autocast
(``cvcourse_utils.autocast``; bf16 needs no gradient scaler).
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from cvcourse_utils.device import autocast, get_device
from cvcourse_utils.pretrained import get_or_train, pretrained_or_course_model, save_atomically  # noqa: F401

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of correct predictions. logits: (N, K) class scores; targets: (N,) class indices."""
    return (logits.argmax(dim=1) == targets).float().mean().item()


class History(dict):
    """What ``fit`` returns: one list per quantity, one value per epoch, e.g. ``history["val_loss"][-1]``.

    Keys: "train_loss", "train_<metric>", "val_loss", "val_<metric>" (with a val_loader), "lr"
    (the learning rate used in that epoch) and "epoch_time" (seconds, validation included).
    """

    def add(self, **values: float) -> None:
        """Append one epoch's values: ``history.add(train_loss=0.3, lr=0.1)``."""
        for key, value in values.items():
            self.setdefault(key, []).append(float(value))


def _run_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, metrics: Mapping[str, Metric],
               device: torch.device, optimizer: torch.optim.Optimizer | None = None, desc: str = "",
               progress: bool = False, overall=None) -> dict[str, float]:
    """One pass over ``loader``, a training step per batch if an optimizer is given (``overall``: a
    tqdm bar over the whole run, advanced once per batch). Returns the loss and metrics averaged over the samples."""
    totals, count = dict.fromkeys(["loss", *metrics], 0.0), 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress)
    for batch in bar:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(f"the loader must yield (x, y) pairs; it yielded a {type(batch).__name__}")
        x, y = (t.to(device, non_blocking=True) for t in batch)
        with autocast(device):
            outputs = model(x)
            loss = loss_fn(outputs, y)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        count += len(x)  # sums weighted by batch size: a smaller last batch counts less
        totals["loss"] += loss.item() * len(x)
        for name, metric in metrics.items():
            totals[name] += float(metric(outputs.detach(), y)) * len(x)
        if progress:
            bar.set_postfix(loss=f"{totals['loss'] / count:.4f}", refresh=False)
        if overall is not None:
            overall.update(1)
    if count == 0:
        raise ValueError("the loader yielded no batches")
    return {name: total / count for name, total in totals.items()}


@contextlib.contextmanager
def _evaluating(model: nn.Module):
    """model.eval() and torch.inference_mode() inside; the previous train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _device_for(model: nn.Module, device) -> torch.device:
    """``device`` if given (the model is moved there), else the device the model's parameters are on."""
    if device is not None:
        model.to(device)
        return torch.device(device)
    return next(model.parameters(), torch.empty(0)).device


def evaluate(model: nn.Module, loader: Iterable, *, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None, device=None) -> dict[str, float]:
    """The mean loss and metrics of ``model`` over ``loader``: {"loss": ..., "accuracy": ...}.

    Runs in eval mode under ``torch.inference_mode`` and restores the model's mode afterwards.
    device: default the device the model is on.
    """
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    metrics = {"accuracy": accuracy} if metrics is None else metrics
    device = _device_for(model, device)
    with _evaluating(model):
        return _run_epoch(model, loader, loss_fn, metrics, device)


def predict(model: nn.Module, loader: Iterable, *, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """All outputs and targets of ``loader``: (outputs (N, K) float32 on the CPU, targets (N,))."""
    device = _device_for(model, device)
    outputs, targets = [], []
    with _evaluating(model):
        for x, y in loader:
            with autocast(device):
                out = model(x.to(device, non_blocking=True))
            outputs.append(out.float().cpu() if out.is_floating_point() else out.cpu())
            targets.append(y.cpu())
    return torch.cat(outputs), torch.cat(targets)


def _save_checkpoint(path, epoch, model, optimizer, scheduler, history, loader) -> None:
    generator = getattr(loader, "generator", None)
    save_atomically({
        "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None, "history": dict(history),
        "rng": torch.get_rng_state(), "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader_rng": generator.get_state() if isinstance(generator, torch.Generator) else None,
    }, path)


def _load_checkpoint(path, model, optimizer, scheduler, history, loader) -> int:
    """Restore everything ``_save_checkpoint`` saved; returns the number of epochs already done."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    history.update(state["history"])
    torch.set_rng_state(state["rng"])  # the same shuffles and dropout masks as an uninterrupted run
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state["loader_rng"] is not None and isinstance(getattr(loader, "generator", None), torch.Generator):
        loader.generator.set_state(state["loader_rng"])
    return state["epoch"]


def fit(model: nn.Module, train_loader: Iterable, optimizer: torch.optim.Optimizer, *, epochs: int,
        loss_fn: Callable | None = None, val_loader: Iterable | None = None, scheduler=None,
        metrics: Mapping[str, Metric] | None = None, device=None, live_plot: bool = False, progress: bool | str = True,
        checkpoint: str | Path | None = None, resume: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs; return its History (see ``History`` for the keys).

    loss_fn: default cross-entropy. metrics: {name: fn(outputs, targets) -> float}, default
    {"accuracy": accuracy}; averaged over batches weighted by their size (right for accuracy; for
    other metrics use ``predict``). scheduler: stepped once per epoch, after the training batches
    (ReduceLROnPlateau gets the validation loss, or the training loss without val_loader); schedules
    that step per batch (OneCycleLR) are not supported. device: default ``get_device()``; the model
    is moved there. progress: True: a tqdm bar per epoch and a summary line; "overall": one bar over
    every epoch's batches, with the time left (what long trainings behind a cache show); False: quiet. live_plot: curves redrawn
    after every epoch (``plots.LivePlot``). checkpoint: a file rewritten after every epoch (model,
    optimizer, scheduler, history, epoch, random state); resume=True continues from it, exactly as
    if the run had not stopped (with the same seed and a loader that shuffles with torch's generator).
    """
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from")
    if progress not in (True, False, "overall"):
        raise ValueError(f"progress must be True, False or 'overall', not {progress!r}")
    device = torch.device(device) if device is not None else get_device()
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    metrics = {"accuracy": accuracy} if metrics is None else dict(metrics)
    model.to(device)
    history, start = History(), 0
    if resume and Path(checkpoint).exists():
        start = _load_checkpoint(checkpoint, model, optimizer, scheduler, history, train_loader)
        print(f"resumed from {checkpoint} after epoch {start}")
    if live_plot:
        from cvcourse_utils.plots import LivePlot

        live = LivePlot(metrics=("loss", *metrics))
    with _overall_bar(progress == "overall", epochs - start, train_loader) as overall:
        for epoch in range(start, epochs):
            _fit_epoch(model, train_loader, optimizer, epoch, epochs, loss_fn, metrics, device, val_loader, scheduler,
                       history, checkpoint, live if live_plot else None, progress is True, overall)
    return history


@contextlib.contextmanager
def _overall_bar(show: bool, epochs: int, loader: Iterable):
    """One tqdm bar over ``epochs`` passes of ``loader`` (None when not shown)."""
    if not show:
        yield None
        return
    total = epochs * len(loader) if hasattr(loader, "__len__") else None
    bar = tqdm(total=total, desc="training", unit="batch", leave=False)
    try:
        yield bar
    finally:
        bar.close()


def _fit_epoch(model, train_loader, optimizer, epoch, epochs, loss_fn, metrics, device, val_loader, scheduler,
               history, checkpoint, live, progress: bool, overall) -> None:
    """One epoch of ``fit``: train, validate, step the schedule, record, checkpoint, plot, report."""
    began = time.perf_counter()
    model.train()
    results = _run_epoch(model, train_loader, loss_fn, metrics, device, optimizer,
                         desc=f"epoch {epoch + 1}/{epochs}", progress=progress, overall=overall)
    values = {f"train_{name}": value for name, value in results.items()}
    if val_loader is not None:
        results = evaluate(model, val_loader, loss_fn=loss_fn, metrics=metrics, device=device)
        values.update({f"val_{name}": value for name, value in results.items()})
    values["lr"] = optimizer.param_groups[0]["lr"]
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(values.get("val_loss", values["train_loss"]))
    elif scheduler is not None:
        scheduler.step()
    history.add(**values, epoch_time=time.perf_counter() - began)
    if checkpoint is not None:
        _save_checkpoint(checkpoint, epoch + 1, model, optimizer, scheduler, history, train_loader)
    if live is not None:
        live.update(epoch + 1, **values)
    if overall is not None:
        overall.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{values['train_loss']:.4g}")
    if progress:
        summary = "  ".join(f"{key} {value:.4g}" for key, value in values.items())
        print(f"epoch {epoch + 1}/{epochs}  {summary}  ({history['epoch_time'][-1]:.1f} s)")
