"""CutMix: paste a box from a partner image, mix labels by the pasted area."""

from dataclasses import dataclass

import torch

from benchmark.component import check_fields
from benchmark.registry import register_defense
from defenses.base import Defense, numpy_rng, one_hot


@dataclass(frozen=True)
class CutMixConfig:
    beta: float = 1.0  # λ ~ Beta(β, β) (Yun et al. 2019, CIFAR setting)
    prob: float = 0.5  # probability that a batch is cut-mixed (the authors' CIFAR script, --cutmix_prob 0.5)

    def __post_init__(self) -> None:
        check_fields(self, "cutmix", beta="> 0", prob="in [0, 1]")


@register_defense("cutmix")
class CutMix(Defense):
    """CutMix (Yun et al. 2019, arXiv:1905.04899).

    With probability ``prob`` a batch gets one box of side √(1−λ)·(H, W) at a uniform centre, clipped at
    the borders, filled from a permuted partner; λ is then recomputed from the exact box area, and the
    target is λ·y + (1−λ)·y_partner.
    """

    paper = "Yun et al. 2019, CutMix: Regularization Strategy to Train Strong Classifiers, arXiv:1905.04899"
    Config = CutMixConfig

    def transform_batch(self, x, y, generator):
        rng = numpy_rng(generator)
        if rng.random() >= self.config.prob:
            return x, y
        n, _, h, w = x.shape
        lam = rng.beta(self.config.beta, self.config.beta)
        ch, cw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        perm = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
        t = one_hot(y)
        return x, lam * t + (1 - lam) * t[perm]
