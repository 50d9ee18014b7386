"""MixUp: convex combinations of image pairs and of their labels."""

from dataclasses import dataclass

import torch

from benchmark.component import check_fields
from benchmark.registry import register_defense
from defenses.base import Defense, numpy_rng, one_hot


@dataclass(frozen=True)
class MixUpConfig:
    alpha: float = 1.0  # λ ~ Beta(α, α); α = 1 is Zhang et al.'s CIFAR-10 setting (λ uniform on [0, 1])

    def __post_init__(self) -> None:
        check_fields(self, "mixup", alpha="> 0")


@register_defense("mixup")
class MixUp(Defense):
    """MixUp (Zhang et al. 2018, arXiv:1710.09412): x = λ·x_i + (1−λ)·x_j, y likewise, λ ~ Beta(α, α).

    One λ per batch and a random permutation of the batch as partners, as in the authors' code.
    """

    paper = "Zhang et al. 2018, mixup: Beyond Empirical Risk Minimization, arXiv:1710.09412"
    Config = MixUpConfig

    def transform_batch(self, x, y, generator):
        lam = float(numpy_rng(generator).beta(self.config.alpha, self.config.alpha))
        perm = torch.randperm(len(x), generator=generator, device=generator.device).to(x.device)
        t = one_hot(y)
        return lam * x + (1 - lam) * x[perm], lam * t + (1 - lam) * t[perm]



