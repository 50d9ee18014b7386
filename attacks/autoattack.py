"""AutoAttack and its black-box component Square, on a declared seeded subset (they are costly)."""

import copy
from dataclasses import dataclass

import torch
import torchattacks

from attacks.base import ThreatModel, predict, seeded_global_rng
from attacks.pgd import PGD, PGDConfig
from benchmark.component import check_fields
from benchmark.registry import register_threat


@dataclass(frozen=True)
class AutoAttackConfig:
    eps: float = 8 / 255  # L∞ radius (RobustBench's CIFAR-10 L∞ leaderboard)
    n_images: int = 1000  # seeded subset of the test images; shown with the number

    def __post_init__(self) -> None:
        check_fields(self, "autoattack", eps="≥ 0", n_images="> 0")


@register_threat("autoattack")
class AutoAttack(ThreatModel):
    """Standard AutoAttack (Croce & Hein 2020, arXiv:2003.01690), L∞ ε = 8/255, via torchattacks:
    APGD-CE, APGD-T, FAB-T and Square, each on the images the previous ones did not break.

    One attack in front, in AutoAttack's own manner: PGD-20 at the same ε (step ε/4), which stops on each
    image once broken; AutoAttack then runs on the images it left. An image PGD breaks has an adversarial
    example in the ε-ball, so this never counts an image robust that AutoAttack alone would break — the
    number can only be lower (stronger) — and on an undefended network, where PGD breaks nearly every
    image in a few steps, it spares APGD's 100 full steps on them (the quick baseline on 2 shared AVX2
    cores: 134 s per 1,000 images before, 14 s per 300 after — PGD's own time)."""

    paper = "Croce & Hein 2020, Reliable evaluation of adversarial robustness, arXiv:2003.01690"
    Config = AutoAttackConfig
    needs_gradients = True

    def outcomes(self, model, x, y, generator):
        eps = self.config.eps
        ok = PGD(PGDConfig(eps=eps, alpha=eps / 4)).outcomes(model, x, y, generator)[""]
        alive = ok.nonzero().squeeze(1)
        if len(alive):
            with torch.enable_grad():
                adv = self.perturb(model, x[alive], y[alive], generator)
            ok[alive] = predict(model, adv.detach()) == y[alive]
        return {"": ok}

    def perturb(self, model, x, y, generator):
        # FAB views input gradients as if contiguous: give it a contiguous-format copy of the network
        # (the evaluator's is channels_last for speed; same weights, same function).
        model = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
        x = x.contiguous()
        with seeded_global_rng(generator):
            seed = int(generator.initial_seed())
            return torchattacks.AutoAttack(model, norm="Linf", eps=self.config.eps, version="standard",
                                           n_classes=10, seed=seed)(x, y)


@dataclass(frozen=True)
class SquareConfig:
    eps: float = 8 / 255  # L∞ radius
    n_queries: int = 5000  # query budget per image (Andriushchenko et al. 2020; AutoAttack's setting)
    n_images: int = 1000  # seeded subset of the test images, the same as autoattack's

    def __post_init__(self) -> None:
        check_fields(self, "square", eps="≥ 0", n_queries="> 0", n_images="> 0")


@register_threat("square")
class Square(ThreatModel):
    """Square attack (Andriushchenko et al. 2020, arXiv:1912.00049): score-based black-box L∞ search,
    5000 queries, via torchattacks. Gradient-free, so gradient masking cannot hide from it."""

    paper = "Andriushchenko et al. 2020, Square Attack, arXiv:1912.00049"
    Config = SquareConfig
    needs_gradients = False  # queries only; runs under no_grad

    def perturb(self, model, x, y, generator):
        c = self.config
        with seeded_global_rng(generator):
            return torchattacks.Square(model, norm="Linf", eps=c.eps, n_queries=c.n_queries, n_restarts=1,
                                       seed=int(generator.initial_seed()))(x, y)
