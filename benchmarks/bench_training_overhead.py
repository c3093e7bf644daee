"""How much slower is ``training.fit`` than the shortest hand-written training loop?

A small CNN (two conv layers on 32x32x3 inputs) trains for one epoch of 50 batches of 64
synthetic images: with a bare loop (forward, loss, backward, step), with ``fit`` (which also
averages the loss and accuracy) and with ``fit`` and its progress bar. The three runs alternate
in rotating order, each repeated, on one CPU thread. On the CPU the time is the process's CPU
time (``time.process_time``), which other programs on a busy machine do not inflate; on a GPU
it is wall time. The figure is the median over repeats of (fit time - bare time) / bare time;
it must stay below 10%, with the progress bar too.

    .venv/bin/python benchmarks/bench_training_overhead.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from benchmarks.results import record  # noqa: E402
from cvcourse_utils import get_device, seed_everything  # noqa: E402
from cvcourse_utils.training import fit  # noqa: E402

BATCHES, BATCH_SIZE, REPEATS, LIMIT = 50, 64, 9, 0.10


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 10),
    )


def bare_loop(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """What a student writes first: no averaging, no progress bar, no history."""
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()


def timed(run, device: torch.device) -> float:
    """Seconds run() takes: CPU time of this process on the CPU, wall time (synchronised) on CUDA."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        return time.perf_counter() - start
    start = time.process_time()
    run()
    return time.process_time() - start


def main() -> int:
    torch.set_num_threads(1)
    seed_everything(0)
    device = get_device()
    x = torch.rand(BATCHES * BATCH_SIZE, 3, 32, 32)
    y = torch.randint(0, 10, (BATCHES * BATCH_SIZE,))
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=True)
    model = small_cnn().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    runs = {
        "bare": lambda: bare_loop(model, loader, optimizer, device),
        "fit": lambda: fit(model, loader, optimizer, epochs=1, device=device, progress=False),
        "fit+progress": lambda: fit(model, loader, optimizer, epochs=1, device=device, progress=True),
    }
    for run in runs.values():  # warm-up: lazy imports, allocator, first-call costs
        run()
    names, times = list(runs), {name: [] for name in runs}
    for repeat in range(REPEATS):  # alternate, and rotate the order: whoever runs first is not favoured
        for name in names[repeat % 3:] + names[:repeat % 3]:
            times[name].append(timed(runs[name], device))

    bare = times["bare"]
    clock = "wall time" if device.type == "cuda" else "CPU time"
    results = {}
    for name in ("fit", "fit+progress"):
        paired = [(t - b) / b for t, b in zip(times[name], bare)]
        results[name] = statistics.median(paired)
        print(f"{name}: median {statistics.median(times[name]):.3f} s vs bare {statistics.median(bare):.3f} s; "
              f"overhead median {results[name]:+.1%} (per repeat: {', '.join(f'{p:+.1%}' for p in paired)})")
    notes = (f"small CNN, {BATCHES} batches of {BATCH_SIZE} at 32x32x3, {REPEATS} repeats, 1 thread, {device.type}, {clock}; "
             f"bare epoch {statistics.median(bare):.2f} s; with progress bar {results['fit+progress']:+.1%}")
    record("bench_training_overhead", "fit overhead over a bare loop (progress off)", f"{results['fit']:+.1%}", notes)
    worst = max(results.values())
    if worst >= LIMIT:
        print(f"FAIL: fit adds {worst:.1%} (limit {LIMIT:.0%})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
