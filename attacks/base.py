"""The ``ThreatModel`` interface: a model and a clean batch in [0, 1] → the perturbed batch.

The evaluator puts the model in eval mode and calls :meth:`ThreatModel.outcomes` on each batch, in fp32;
a threat never sees normalised tensors (models normalise inside themselves). Most threats only implement
:meth:`ThreatModel.perturb`; worst-case threats (an image counts as broken if any trial fools the model)
and multi-part threats (corruption × severity) override :meth:`ThreatModel.outcomes`.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from typing import ClassVar

import torch
from torch import nn

from benchmark.component import Configurable


class ThreatUnavailable(RuntimeError):
    """The threat cannot run in this installation (a missing component); the evaluator records why."""


class ThreatModel(Configurable, abc.ABC):
    """A registered threat. Subclasses set ``paper``, optionally ``Config``, and implement ``perturb``.

    ``needs_gradients``: ``perturb`` back-propagates through the model (the evaluator enables autograd
    and uses smaller batches). A config field ``n_images`` limits the threat to a seeded subset of the
    test images (costly attacks); the subset size is stored and shown with the number.
    """

    needs_gradients: ClassVar[bool] = False

    @property
    def n_images(self) -> int | None:
        return getattr(self.config, "n_images", None)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The perturbed batch, same shape as ``x``, values in [0, 1]."""
        raise NotImplementedError(f"{type(self).__name__} implements neither perturb nor outcomes")

    def outcomes(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
                 ) -> dict[str, torch.Tensor]:
        """Per-image correctness (bool, N): key ``""`` is this threat's accuracy, other keys are parts
        reported beside it (e.g. ``"fog/3"``). Default: ``model(perturb(x))`` is correct."""
        with torch.enable_grad() if self.needs_gradients else torch.no_grad():
            x_adv = self.perturb(model, x, y, generator)
        return {"": predict(model, x_adv.detach()) == y}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1)


@contextlib.contextmanager
def seeded_global_rng(generator: torch.Generator) -> Iterator[None]:
    """Seed torch's global RNG from ``generator`` for a library that draws from it (torchattacks' random
    starts), restoring the global state afterwards."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    devices = [torch.cuda.current_device()] if generator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def subset_indices(n: int, k: int | None, seed: int) -> torch.Tensor:
    """The seeded subset of ``k`` of ``n`` test images a costly threat evaluates (sorted; all if k is None)."""
    if k is None or k >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].sort().values
