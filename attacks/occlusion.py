"""Occlusion: one square patch of zeros at a random position."""

from dataclasses import dataclass

import torch

from attacks.base import ThreatModel, predict
from benchmark.component import check_fields
from benchmark.registry import register_threat


@dataclass(frozen=True)
class OcclusionConfig:
    size: int = 16  # px side of the black patch, as Jordao & Pedrini (2021) following Fawzi & Frossard (2016)

    def __post_init__(self) -> None:
        check_fields(self, "occlusion", size="> 0")


@register_threat("occlusion")
class Occlusion(ThreatModel):
    """A ``size``×``size`` patch of zeros per image, fully inside it, top-left corner drawn uniformly
    from a seeded generator (Jordao & Pedrini, ICCV-W 2021; Fawzi & Frossard 2016, arXiv:1607.05405)."""

    paper = "Jordao & Pedrini 2021, On the Effect of Pruning on Adversarial Robustness, arXiv:2108.04890"
    Config = OcclusionConfig

    def perturb(self, model, x, y, generator):
        n, _, h, w = x.shape
        s = self.config.size
        top = torch.randint(0, h - s + 1, (n, 1, 1), generator=generator, device=generator.device).to(x.device)
        left = torch.randint(0, w - s + 1, (n, 1, 1), generator=generator, device=generator.device).to(x.device)
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        patch = (rows >= top) & (rows < top + s) & (cols >= left) & (cols < left + s)
        return x.masked_fill(patch[:, None], 0.0)


@dataclass(frozen=True)
class WorstOcclusionConfig:
    size: int = 16  # px side of the black patch
    stride: int = 4  # px between positions: 5 × 5 = 25 positions on 32 × 32 images

    def __post_init__(self) -> None:
        check_fields(self, "occlusion-worst", size="> 0", stride="> 0")


@register_threat("occlusion-worst")
class WorstOcclusion(ThreatModel):
    """The 16×16 black patch slid over the image with stride 4; an image is broken if the model errs at
    any position (exhaustive worst case of ``occlusion``; cf. Zeiler & Fergus 2014's occlusion maps)."""

    paper = "Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks, arXiv:1311.2901"
    Config = WorstOcclusionConfig

    def outcomes(self, model, x, y, generator):
        s, st = self.config.size, self.config.stride
        ok = torch.ones(len(x), dtype=torch.bool, device=x.device)  # broken once any trial errs
        for top in range(0, x.shape[2] - s + 1, st):
            for left in range(0, x.shape[3] - s + 1, st):
                alive = ok.nonzero().squeeze(1)
                if len(alive) == 0:
                    return {"": ok}
                xo = x[alive].clone()
                xo[:, :, top:top + s, left:left + s] = 0
                ok[alive] = predict(model, xo) == y[alive]
        return {"": ok}
