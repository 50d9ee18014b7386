"""PGD: projected gradient descent in L∞ with a random start."""

from dataclasses import dataclass

import torchattacks

from attacks.base import ThreatModel, seeded_global_rng
from benchmark.component import check_fields
from benchmark.registry import register_threat


@dataclass(frozen=True)
class PGDConfig:
    eps: float = 8 / 255  # L∞ radius on [0, 1] images (Madry et al. 2018, CIFAR-10)
    alpha: float = 2 / 255  # step size
    steps: int = 20  # iterations
    random_start: bool = True  # uniform start in the ε-ball
    n_images: int | None = None  # seeded subset of the test images (None: all)

    def __post_init__(self) -> None:
        check_fields(self, "pgd", eps="≥ 0", alpha="> 0", steps="> 0", n_images="> 0")


@register_threat("pgd")
class PGD(ThreatModel):
    """PGD-20 (Madry et al. 2018, arXiv:1706.06083), via torchattacks: ε = 8/255, step 2/255, 20 steps,
    random start drawn from the evaluator's seeded generator."""

    paper = "Madry et al. 2018, Towards Deep Learning Models Resistant to Adversarial Attacks, arXiv:1706.06083"
    Config = PGDConfig
    needs_gradients = True

    def perturb(self, model, x, y, generator):
        c = self.config
        with seeded_global_rng(generator):
            return torchattacks.PGD(model, eps=c.eps, alpha=c.alpha, steps=c.steps, random_start=c.random_start)(x, y)
