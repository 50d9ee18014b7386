"""FGSM: one signed-gradient step of size ε in L∞."""

from dataclasses import dataclass

import torchattacks

from attacks.base import ThreatModel
from benchmark.component import check_fields
from benchmark.registry import register_threat


@dataclass(frozen=True)
class FGSMConfig:
    eps: float = 8 / 255  # L∞ radius on [0, 1] images; the CIFAR-10 standard (Madry et al. 2018)

    def __post_init__(self) -> None:
        check_fields(self, "fgsm", eps="≥ 0")


@register_threat("fgsm")
class FGSM(ThreatModel):
    """Fast Gradient Sign Method (Goodfellow et al. 2015, arXiv:1412.6572), via torchattacks.

    x_adv = clip(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1), untargeted, ε = 8/255.
    """

    paper = "Goodfellow et al. 2015, Explaining and Harnessing Adversarial Examples, arXiv:1412.6572"
    Config = FGSMConfig
    needs_gradients = True

    def perturb(self, model, x, y, generator):
        if self.config.eps == 0:
            return x
        return torchattacks.FGSM(model, eps=self.config.eps)(x, y)
