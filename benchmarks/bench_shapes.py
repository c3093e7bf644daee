"""How fast the shapes generator is, and (with --cnn) how learnable its cluttered preset is.

    .venv/bin/python benchmarks/bench_shapes.py           # generation speed (the bar: 10,000 images < 2 s)
    .venv/bin/python benchmarks/bench_shapes.py --cnn     # + a small CNN on cluttered shapes (CPU, minutes)
    .venv/bin/python benchmarks/bench_shapes.py --no-speed --cnn --cnn-train 10000 --cnn-epochs 8   # full-mode size

Generation runs on one core (NumPy's element-wise loops are single-threaded); the figure is the
best of a few runs, as wall-clock time and as CPU time of this process.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record  # noqa: E402

from cvcourse_utils.datasets import generate_shapes, load_dataset  # noqa: E402


def time_generation(n: int, difficulty: str, repeats: int) -> tuple[float, float]:
    """Best wall-clock and CPU seconds to generate ``n`` 32x32 classification images."""
    generate_shapes(256, difficulty=difficulty)  # warm up
    walls, cpus = [], []
    for seed in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        generate_shapes(n, seed=seed, difficulty=difficulty)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def train_small_cnn(n_train: int, epochs: int, threads: int) -> float:
    """Test accuracy of a 3-layer CNN trained on cluttered 32x32 shapes (Adam, batch 64)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    x, y = (torch.from_numpy(a) for a in load_dataset("shapes", "train", n=n_train, difficulty="cluttered", as_numpy=True))
    xt, yt = (torch.from_numpy(a) for a in load_dataset("shapes", "test", n=2000, difficulty="cluttered", as_numpy=True))

    def block(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))

    model = nn.Sequential(block(3, 32), block(32, 64), block(64, 64), nn.Flatten(), nn.Linear(64 * 4 * 4, 5))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * ((n_train + 63) // 64))
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(n_train).split(64):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(xt).argmax(1) == yt).float().mean().item()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.3f}, test accuracy {accuracy:.3f}", flush=True)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images per timing run (default 10,000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cnn", action="store_true", help="also train a small CNN on cluttered shapes")
    parser.add_argument("--cnn-train", type=int, default=5000)
    parser.add_argument("--cnn-epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-speed", action="store_true", help="skip the generation timing")
    args = parser.parse_args()

    for difficulty in () if args.no_speed else ("easy", "cluttered"):
        wall, cpu = time_generation(args.n, difficulty, args.repeats)
        verdict = "meets" if wall < 2.0 else "MISSES"
        record("bench_shapes", f"generate {args.n:,} shapes 32x32 ({difficulty})", f"{wall:.2f} s wall, {cpu:.2f} s CPU",
               f"best of {args.repeats}; {verdict} the < 2 s bar")
    if args.cnn:
        start = time.perf_counter()
        accuracy = train_small_cnn(args.cnn_train, args.cnn_epochs, args.threads)
        record("bench_shapes", "3-layer CNN, cluttered shapes 32x32, test accuracy", f"{accuracy:.3f}",
               f"{args.cnn_train} train images, {args.cnn_epochs} epochs, CPU {args.threads} thread(s), "
               f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
