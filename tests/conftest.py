"""Shared fixtures: real CIFAR-10 from $DEFENSE_BENCH_DATA or ../shared, tiny budgets, a linear model."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.budgets import get_budget
from benchmark.data import ENV_VAR, Cifar10, load_npz

REPO = Path(__file__).resolve().parent.parent
DEFAULT_NPZ = REPO.parent / "shared" / "data" / "cifar10.npz"

torch.set_num_threads(max(1, os.cpu_count() or 1))


@pytest.fixture(scope="session", autouse=True)
def stylizer_cache(tmp_path_factory) -> Path:
    """Tests build their stylizers and corrupted sets in a cache of their own (never the user's ~/.cache)."""
    from benchmark.data import CACHE_ENV

    path = tmp_path_factory.mktemp("stylizer-cache")
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(path)
    yield path
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old


def npz_path() -> Path | None:
    p = Path(os.environ.get(ENV_VAR) or DEFAULT_NPZ)
    return p if p.is_file() else None


@pytest.fixture(scope="session")
def cifar() -> Cifar10:
    """The real CIFAR-10. Missing data fails under CI (never a silent skip) and skips elsewhere."""
    p = npz_path()
    if p is None:
        msg = f"real CIFAR-10 not found: set {ENV_VAR} or place it at {DEFAULT_NPZ}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return load_npz(p)


@pytest.fixture(scope="session")
def cifar_path(cifar) -> Path:
    return npz_path()


@pytest.fixture()
def tiny_budget():
    """Seconds per training run: 1 epoch on 512 images, 256 test images."""
    return dataclasses.replace(get_budget("smoke"), epochs=1, n_train=512, n_test=256, batch_size=64,
                               prune_images=128)


@pytest.fixture()
def tiny8(tiny_budget):
    """The tiny budget on ResNet-8: for tests that train only to check what is reported or reused."""
    return dataclasses.replace(tiny_budget, archs=("resnet8",))


class Linear(nn.Module):
    """A linear classifier on flattened [0, 1] images: the closed-form case for gradient attacks."""

    def __init__(self, d: int = 3 * 32 * 32, k: int = 10, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(d, k)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(k, d, generator=g) * 0.05)
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture(scope="session")
def trained_linear(cifar) -> Linear:
    """A logistic regression fitted on 5k real training images (about 28% clean test accuracy)."""
    from benchmark.data import to_float

    torch.manual_seed(0)
    model = Linear()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = to_float(cifar.x_train[:5000]), cifar.y_train[:5000]
    for _ in range(3):
        for i in range(0, 5000, 250):
            loss = nn.functional.cross_entropy(model(x[i:i + 250]), y[i:i + 250])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()
