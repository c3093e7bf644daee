"""A digits judge and the sample-quality measures built on it (modules 10 and 11).

The judge is a small CNN trained once (``get_or_train``) on the **training split** of
``load_dataset("digits", image_size=28)`` (or of MNIST), never on generated images; its accuracy on
the test split is stored with its weights (``judge.test_accuracy``). On top of it::

    recognisable_rate(images, labels)   fraction of samples whose requested class gets probability >= 0.9
    class_coverage(images)              (10,) int64 histogram of the judge's predicted classes
    judge_fid(real, generated)          Fréchet distance in the judge's 128-d feature space, computed by
                                        torchmetrics' FrechetInceptionDistance(feature=judge.extractor)
    score_samples(images, labels, real) all of the above in one dict
    export_samples / load_samples       the ``.npz`` exchange format of generated samples

Every ``images`` argument is (N, 1, 28, 28) float in [0, 1] (NumPy or torch); ``labels`` is (N,)
class indices, or -1 for a sample drawn without a class (then "recognisable" means the judge gives
*some* class probability >= 0.9). ``judge=None`` uses :func:`load_judge` ("digits"). Nothing here
downloads anything: FID uses the judge, not Inception.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["JudgeFeatures", "DigitsJudge", "load_judge", "judge_probabilities", "recognisable_rate",
           "class_coverage", "judge_fid", "score_samples", "export_samples", "load_samples",
           "RECOGNISABLE_THRESHOLD", "IMAGE_SHAPE"]

RECOGNISABLE_THRESHOLD = 0.9
IMAGE_SHAPE = (1, 28, 28)
_JUDGE_EPOCHS = {"digits": (30, 12), "mnist": (3, 1)}  # (full, fast) epochs


class JudgeFeatures(nn.Module):
    """images (N, 1, 28, 28) in [0, 1] -> features (N, 128) (the judge's penultimate layer)::

        Conv 3x3 (32) ReLU MaxPool -> (N, 32, 14, 14);  Conv 3x3 (64) ReLU MaxPool -> (N, 64, 7, 7)
        Conv 3x3 (64) ReLU -> Flatten -> Linear(3136, 128) ReLU

    ``num_features`` (128) is read by torchmetrics' FrechetInceptionDistance.
    """

    num_features = 128

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, self.num_features), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float())


class DigitsJudge(nn.Module):
    """images (N, 1, 28, 28) in [0, 1] -> logits (N, 10); ``extractor`` gives the (N, 128) features.

    ``test_accuracy`` (a buffer, saved with the weights) is its accuracy on the test split of the
    data set it was trained on; ``dataset`` names that data set.
    """

    def __init__(self, dataset: str = "digits") -> None:
        super().__init__()
        self.dataset = dataset
        self.extractor = JudgeFeatures()
        self.classifier = nn.Linear(JudgeFeatures.num_features, 10)
        self.register_buffer("test_accuracy", torch.tensor(float("nan")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.extractor(x))


def _build_judge(config: dict) -> DigitsJudge:
    return DigitsJudge(config["dataset"])


def _train_judge(model: DigitsJudge, config: dict) -> None:
    """Adam (cosine schedule) on the training split with small random affine jitter; then measure the test accuracy."""
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    from cvcourse_utils.datasets import load_dataset
    from cvcourse_utils.seeding import seed_everything
    from cvcourse_utils.training import evaluate, fit

    seed_everything(config["seed"])
    jitter = v2.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.9, 1.1))
    train_set = load_dataset(config["dataset"], "train", image_size=28, transform=jitter)
    test_set = load_dataset(config["dataset"], "test", image_size=28)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(config["seed"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    fit(model, loader, optimizer, epochs=config["epochs"], scheduler=scheduler, progress="overall")
    result = evaluate(model, DataLoader(test_set, batch_size=256))
    model.test_accuracy.fill_(float(result["accuracy"]))


def load_judge(dataset: str = "digits", device=None) -> DigitsJudge:
    """The judge for ``dataset`` ("digits" or "mnist"), trained on its training split once and cached.

    Training takes about half a minute on one CPU core for the digits (30 epochs of 1,078 images; 12 in
    fast mode, where the test accuracy is still about 0.99). The model comes back in eval mode on ``device`` (default ``get_device()``).
    """
    if dataset not in _JUDGE_EPOCHS:
        raise ValueError(f"the judge is trained on 'digits' or 'mnist', not {dataset!r}")
    from cvcourse_utils.cache import cache_dir
    from cvcourse_utils.fast import fast_mode

    return _cached_judge(dataset, str(device) if device is not None else None, fast_mode(), str(cache_dir()))


def _judge_config(dataset: str) -> dict:
    from cvcourse_utils.fast import per_mode

    full, fast = _JUDGE_EPOCHS[dataset]
    return {"dataset": dataset, "epochs": per_mode(full=full, fast=fast), "seed": 0}


def judge_path(dataset: str = "digits"):
    """Where ``get_or_train`` keeps the judge of ``dataset`` in the current mode (``cvcourse prepare`` checks it)."""
    from cvcourse_utils.pretrained import model_path

    return model_path(f"judge_{dataset}", _build_judge, _train_judge, _judge_config(dataset))


@lru_cache(maxsize=4)
def _cached_judge(dataset: str, device: str | None, fast: bool, cache: str) -> DigitsJudge:
    """One judge per (dataset, device, mode, cache folder) in this process."""
    from cvcourse_utils.pretrained import get_or_train

    judge = get_or_train(f"judge_{dataset}", _build_judge, _train_judge, _judge_config(dataset), device=device)
    for p in judge.parameters():
        p.requires_grad_(False)
    return judge


def _images(images) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    if x.ndim == 3:
        x = x[:, None]
    if tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must be (N, 1, 28, 28), got {tuple(x.shape)}")
    return x.detach().cpu()


def _judge(judge: DigitsJudge | None) -> DigitsJudge:
    return load_judge("digits") if judge is None else judge


@torch.no_grad()
def judge_probabilities(images, judge: DigitsJudge | None = None, batch_size: int = 500) -> np.ndarray:
    """The judge's class probabilities (N, 10) float32 for images (N, 1, 28, 28) in [0, 1]."""
    judge = _judge(judge)
    x = _images(images)
    device = next(judge.parameters()).device
    out = [torch.softmax(judge(x[i:i + batch_size].to(device)), dim=1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 10), np.float32)


def recognisable_rate(images, labels, judge: DigitsJudge | None = None,
                      threshold: float = RECOGNISABLE_THRESHOLD) -> float:
    """Fraction of samples whose requested class has judge probability >= threshold.

    labels: (N,) requested classes; -1 (a sample without a requested class) counts when the judge gives
    any class probability >= threshold.
    """
    probs = judge_probabilities(images, judge)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(probs):
        raise ValueError(f"{len(probs)} images but {len(labels)} labels")
    if len(probs) == 0:
        return float("nan")
    asked = probs[np.arange(len(probs)), np.clip(labels, 0, None)]
    score = np.where(labels >= 0, asked, probs.max(axis=1))
    return float(np.mean(score >= threshold))


def class_coverage(images, judge: DigitsJudge | None = None) -> np.ndarray:
    """How many samples the judge assigns to each class: (10,) int64 counts (sum = N)."""
    predicted = judge_probabilities(images, judge).argmax(axis=1)
    return np.bincount(predicted, minlength=10).astype(np.int64)


def judge_fid(real_images, generated_images, judge: DigitsJudge | None = None, batch_size: int = 500) -> float:
    """Fréchet distance between two image sets in the judge's feature space (lower is closer).

    Computed by ``torchmetrics.image.fid.FrechetInceptionDistance(feature=judge.extractor)``:
    ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) with unbiased covariances of the 128-d features.
    Needs at least two images per set; a few hundred give a stable figure. Not comparable with
    Inception-FID values from papers.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    judge = _judge(judge)
    device = next(judge.parameters()).device
    metric = FrechetInceptionDistance(feature=judge.extractor, normalize=True).to(device)
    with torch.no_grad():
        for images, real in ((real_images, True), (generated_images, False)):
            x = _images(images)
            for i in range(0, len(x), batch_size):
                metric.update(x[i:i + batch_size].to(device), real=real)
        value = float(metric.compute())
    judge.eval()
    return value


def score_samples(images, labels, real_images, judge: DigitsJudge | None = None) -> dict:
    """Every measure at once: recognisable_rate, coverage (list of 10 counts), max_class_fraction, fid."""
    coverage = class_coverage(images, judge)
    return {
        "recognisable_rate": recognisable_rate(images, labels, judge),
        "coverage": coverage.tolist(),
        "max_class_fraction": float(coverage.max() / max(coverage.sum(), 1)),
        "classes_covered": int((coverage > 0).sum()),
        "fid": judge_fid(real_images, images, judge),
    }


def _validated(images, labels) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images.detach().cpu() if isinstance(images, torch.Tensor) else images)
    labels = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must be (N, 1, 28, 28), got {images.shape}")
    if not np.issubdtype(images.dtype, np.floating) or images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must be floats in [0, 1]")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) or (labels < -1).any():
        raise ValueError(f"labels must be ({len(images)},) integers, a class or -1, got {labels.shape} {labels.dtype}")
    return images.astype(np.float32), labels.astype(np.int64)


def export_samples(path: str | Path, images, labels) -> Path:
    """Write generated samples to ``path`` (.npz): ``images`` float32 (N, 1, 28, 28) in [0, 1] and
    ``labels`` int64 (N,), the class asked for or -1 when unconditional. Returns the path."""
    images, labels = _validated(images, labels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=images, labels=labels)
    return path


def load_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images float32 (N, 1, 28, 28), labels int64 (N,))`` from a file written by :func:`export_samples`."""
    with np.load(path, allow_pickle=False) as data:
        return _validated(data["images"], data["labels"])
