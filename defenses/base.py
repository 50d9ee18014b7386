"""The ``Defense`` interface: every defense is one subclass overriding one hook.

Data defenses (Cutout, MixUp, CutMix, Stylized, Shape-Texture) override :meth:`Defense.transform_batch`;
pruning overrides :meth:`Defense.transform_model`. Both default to the identity, which is the baseline.
A defense never imports the trainer: one that must train (pruning's fine-tuning) calls the ``train``
callable the harness hands it in a :class:`ModelContext`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmark.component import Configurable


@dataclass(frozen=True)
class ModelContext:
    """What the harness gives :meth:`Defense.transform_model`.

    Attributes:
        finetune: ``finetune(model, epochs, tag)`` fine-tunes ``model`` on clean training images (the
            budget's fine-tuning schedule) and returns it; ``tag`` names its checkpoint.
        train: ``train(model, epochs, tag)`` trains ``model`` like the baseline (the budget's optimiser
            and schedule, stretched to ``epochs``): retraining after pruning.
        images: clean training images in [0, 1] (N, 3, 32, 32) for scoring filters and layers.
        labels: their labels (N,).
        epochs: the budget's training epochs of an unpruned network.
        iterations: pruning iterations declared by the budget.
        finetune_epochs: fine-tuning epochs after each iteration, declared by the budget.
        seed: the run's seed.
        initial_state: the parent network's weights at initialisation (for lottery-ticket rewinding).
    """

    finetune: Callable[[nn.Module, int, str], nn.Module]
    train: Callable[[nn.Module, int, str], nn.Module]
    images: torch.Tensor
    labels: torch.Tensor
    epochs: int
    iterations: int
    finetune_epochs: int
    seed: int
    initial_state: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class TrainingSet:
    """What the trainer gives :meth:`Defense.prepare`: the uint8 NCHW training images and labels (on the
    training device), the budget's name, whether progress bars are wanted and whether the trainer computes
    in bf16 (a stylizer built or applied for this training uses the same arithmetic)."""

    images: torch.Tensor
    labels: torch.Tensor
    budget: str
    progress: bool = True
    bf16: bool = False


class Defense(Configurable, abc.ABC):  # noqa: B024 - the identity hooks are the baseline
    """A training-time defense. Subclasses set ``paper`` and, if they take parameters, ``Config``
    (a frozen dataclass); ``name`` is set by the registry decorator."""

    def prepare(self, data: TrainingSet) -> dict[str, Any]:
        """Called by the trainer before the first batch: build what ``transform_batch`` needs (the
        stylizer of Stylized training) and return facts to record with the entry, such as its name and
        build time, which count in the entry's compute. Default: nothing to build."""
        return {}

    def transform_batch(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training batch in [0, 1] and int labels → (batch, target).

        The target is int labels or (N, 10) class probabilities; the trainer applies plain
        cross-entropy to either. Random draws use ``generator`` so runs are reproducible.
        """
        return x, y

    def transform_model(self, model: nn.Module, ctx: ModelContext) -> nn.Module:
        """The trained network → the defended network (e.g. pruned and fine-tuned)."""
        return model

    def chain_config(self) -> dict[str, Any]:
        """The config the fine-tunes of ``transform_model``'s rounds (``ctx.finetune`` tags ``prune<i>``)
        depend on, so that runs which differ only elsewhere share them: default, all but ``iterations``
        (a round does not depend on how many follow)."""
        return {k: v for k, v in self.config_dict().items() if k != "iterations"}

    @property
    def trains_like_baseline(self) -> bool:
        """True when training is the baseline's, so the baseline's trained network can be reused."""
        return type(self).transform_batch is Defense.transform_batch


def one_hot(y: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Int labels → float one-hot targets (soft targets pass through unchanged)."""
    return y if y.is_floating_point() else nn.functional.one_hot(y, num_classes).float()


def numpy_rng(generator: torch.Generator):
    """A NumPy generator seeded from ``generator`` (torch has no seeded Beta sampler)."""
    import numpy as np

    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return np.random.default_rng(seed)
