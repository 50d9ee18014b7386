"""CIFAR-10 in memory as uint8 tensors, with batched augmentation (no per-image PIL in the loop).

Sources, in order: an explicit ``.npz`` path, the ``DEFENSE_BENCH_DATA`` environment variable, else
torchvision's download into ``~/.cache/defense-bench`` (Krizhevsky 2009). An ``.npz`` holds
``x_train (50000,32,32,3) uint8``, ``y_train (50000,) int``, ``x_test (10000,32,32,3) uint8``,
``y_test (10000,) int``; every other layout is refused with a one-line :class:`DataError`.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENV_VAR = "DEFENSE_BENCH_DATA"
DEFAULT_CACHE = Path.home() / ".cache" / "defense-bench"
CACHE_ENV = "DEFENSE_BENCH_CACHE"  # where built artefacts are cached: stylizers, corrupted test sets


def cache_dir() -> Path:
    """``$DEFENSE_BENCH_CACHE``, else ``~/.cache/defense-bench``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
NUM_CLASSES = 10
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Per-channel statistics of the 50k training images (the values every CIFAR codebase uses).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
PAD = 4  # px of zero padding before the random 32×32 crop (He et al. 2016)


class DataError(ValueError):
    """The data could not be loaded; the message is one line naming the problem."""


@dataclass(frozen=True)
class Cifar10:
    """The data set as uint8 NCHW image tensors and int64 labels, held in memory (184 MB)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str = ""

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Cifar10:
        """A seeded, class-stratified-by-chance subset (the first n of a fixed permutation)."""
        g = torch.Generator().manual_seed(seed)
        tr = torch.randperm(len(self.y_train), generator=g)[:n_train] if n_train else slice(None)
        te = torch.randperm(len(self.y_test), generator=g)[:n_test] if n_test else slice(None)
        return Cifar10(self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te], self.source)


_EXPECTED = {"x_train": 4, "y_train": 1, "x_test": 4, "y_test": 1}


def _check_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
    missing = sorted(set(_EXPECTED) - set(arrays))
    if missing:
        raise DataError(f"{where}: missing key(s) {', '.join(missing)}; expected {', '.join(_EXPECTED)}")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            raise DataError(f"{where}: x_{split} has shape {x.shape}, expected (N, 32, 32, 3) NHWC")
        if x.dtype != np.uint8:
            raise DataError(f"{where}: x_{split} has dtype {x.dtype}, expected uint8")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where}: y_{split} has shape {y.shape}, expected ({len(x)},)")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{where}: y_{split} has dtype {y.dtype}, expected integers")
        if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
            raise DataError(f"{where}: y_{split} has labels in [{y.min()}, {y.max()}], expected 0..9")


def _to_tensors(arrays: dict[str, np.ndarray], source: str) -> Cifar10:
    def images(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    return Cifar10(
        images(arrays["x_train"]),
        torch.from_numpy(arrays["y_train"].astype(np.int64)),
        images(arrays["x_test"]),
        torch.from_numpy(arrays["y_test"].astype(np.int64)),
        source,
    )


def load_npz(path: str | os.PathLike) -> Cifar10:
    """Load and validate a CIFAR-10 ``.npz``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and talk about allow_pickle
        raise DataError(f"{path}: not an .npz archive (expected numpy.savez output with x_train, y_train, x_test, "
                        "y_test)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # zip/format errors from numpy, reduced to one line
        raise DataError(f"{path}: not a readable .npz ({type(e).__name__}: {e})") from None
    _check_arrays(arrays, str(path))
    return _to_tensors(arrays, f"npz:{path}")


def load_torchvision(root: str | os.PathLike = DEFAULT_CACHE, download: bool = True) -> Cifar10:
    """CIFAR-10 through torchvision (downloads 163 MB into ``root`` on first use)."""
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(str(root), train=True, download=download)
        test = CIFAR10(str(root), train=False, download=download)
    except Exception as e:
        raise DataError(
            f"torchvision CIFAR-10 download into {root} failed ({type(e).__name__}: {e}); "
            f"pass --data PATH.npz or set {ENV_VAR}"
        ) from None
    arrays = {
        "x_train": train.data,
        "y_train": np.asarray(train.targets),
        "x_test": test.data,
        "y_test": np.asarray(test.targets),
    }
    _check_arrays(arrays, f"torchvision:{root}")
    return _to_tensors(arrays, f"torchvision:{root}")


def load_cifar10(path: str | os.PathLike | None = None) -> Cifar10:
    """CIFAR-10 from ``path``, else ``$DEFENSE_BENCH_DATA``, else torchvision's download."""
    path = path or os.environ.get(ENV_VAR)
    return load_npz(path) if path else load_torchvision()


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Pad-4 random crop and horizontal flip of a uint8 NCHW batch, each image its own draw.

    One gather over the zero-padded batch replaces N PIL crops (torchvision's RandomCrop(32, 4) +
    RandomHorizontalFlip on every image): the flip is folded into the column index.
    """
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (PAD, PAD, PAD, PAD))
    dy = torch.randint(0, 2 * PAD + 1, (n, 1), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * PAD + 1, (n, 1), generator=generator, device=x.device)
    flip = torch.rand(n, 1, generator=generator, device=x.device) < 0.5
    cols = torch.arange(w, device=x.device).expand(n, w)
    cols = torch.where(flip, w - 1 - cols, cols) + dx
    rows = torch.arange(h, device=x.device).expand(n, h) + dy
    idx = torch.arange(n, device=x.device)[:, None, None, None]
    ch = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[idx, ch, rows[:, None, :, None], cols[:, None, None, :]]


def to_float(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 [0, 255] → float32 [0, 1] (models normalise inside themselves)."""
    out = x.float().div_(255.0)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out
