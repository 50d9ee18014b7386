"""PGD: projected gradient descent in L∞ with a random start, stopping on each image once it is broken."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attacks.base import ThreatModel, predict, seeded_global_rng
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
    """PGD-20 (Madry et al. 2018, arXiv:1706.06083): ε = 8/255, step 2/255, 20 steps, random start drawn from
    the evaluator's seeded generator — torchattacks' update, start and projection, step for step.

    An image counts as broken as soon as an iterate fools the model, and is attacked no further (as
    AutoAttack's APGD counts it, Croce & Hein 2020): never weaker than scoring the last iterate, since an
    image never broken follows exactly the trajectory it would have followed, and usually several times
    cheaper, since most images of an undefended network break within a few steps. Written out rather than
    calling ``torchattacks.PGD`` because that runs every image for every step.
    """

    paper = "Madry et al. 2018, Towards Deep Learning Models Resistant to Adversarial Attacks, arXiv:1706.06083"
    Config = PGDConfig
    needs_gradients = True

    def outcomes(self, model, x, y, generator):
        c = self.config
        adv = x.clone()
        if c.random_start:
            with seeded_global_rng(generator):  # the same start torchattacks draws from the seeded global RNG
                start = torch.empty_like(adv, device="cpu").uniform_(-c.eps, c.eps)  # drawn on the CPU on any device
                adv = (adv + start.to(adv.device)).clamp(0, 1)
        correct = torch.ones(len(x), dtype=torch.bool, device=x.device)
        active = torch.arange(len(x), device=x.device)
        with torch.enable_grad():
            for _ in range(c.steps):
                a = adv[active].requires_grad_(True)
                logits = model(a)
                fooled = logits.argmax(1) != y[active]
                correct[active[fooled]] = False
                keep = ~fooled
                if not keep.any():
                    return {"": correct}
                loss = F.cross_entropy(logits[keep], y[active[keep]], reduction="sum")
                grad = torch.autograd.grad(loss, a)[0][keep]
                idx = active[keep]
                step = adv[idx] + c.alpha * grad.sign()
                adv[idx] = (x[idx] + (step - x[idx]).clamp(-c.eps, c.eps)).clamp(0, 1).detach()
                active = idx
        correct[active] = predict(model, adv[active].detach()) == y[active]
        return {"": correct}

    def perturb(self, model, x, y, generator):  # the adversarial images, for a caller that wants them
        import torchattacks

        c = self.config
        with seeded_global_rng(generator):
            return torchattacks.PGD(model, eps=c.eps, alpha=c.alpha, steps=c.steps, random_start=c.random_start)(x, y)
