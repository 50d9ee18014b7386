"""Semantic adversarial examples: random hue and saturation shifts, worst case over N trials."""

from dataclasses import dataclass

import torch

from attacks.base import ThreatModel, predict
from attacks.color import hsv_to_rgb, rgb_to_hsv
from benchmark.component import check_fields
from benchmark.registry import register_threat


@dataclass(frozen=True)
class SemanticHSVConfig:
    trials: int = 100  # random shifts tried per image; Hosseini & Poovendran used 1000

    def __post_init__(self) -> None:
        check_fields(self, "semantic-hsv", trials="> 0")


@register_threat("semantic-hsv")
class SemanticHSV(ThreatModel):
    """Hosseini & Poovendran (CVPR-W 2018, arXiv:1804.00499): in HSV space, hue shifted by δ_H ~ U[0, 1]
    (cyclically) and saturation by δ_S ~ U[−1, 1] (clipped), value unchanged. An image is broken if any of
    ``trials`` independent shifts is misclassified; only unbroken images are tried again."""

    paper = "Hosseini & Poovendran 2018, Semantic Adversarial Examples, arXiv:1804.00499"
    Config = SemanticHSVConfig

    @staticmethod
    def shift(x: torch.Tensor, dh: torch.Tensor, ds: torch.Tensor) -> torch.Tensor:
        return SemanticHSV.shift_hsv(rgb_to_hsv(x), dh, ds)

    @staticmethod
    def shift_hsv(hsv: torch.Tensor, dh: torch.Tensor, ds: torch.Tensor) -> torch.Tensor:
        """:meth:`shift` of images already in HSV (the conversion is made once per batch, not per trial)."""
        h = (hsv[:, 0] + dh.view(-1, 1, 1)) % 1.0
        s = (hsv[:, 1] + ds.view(-1, 1, 1)).clamp(0, 1)
        return hsv_to_rgb(torch.stack((h, s, hsv[:, 2]), 1)).clamp(0, 1)

    def outcomes(self, model, x, y, generator):
        ok = torch.ones(len(x), dtype=torch.bool, device=x.device)  # broken once any trial errs
        hsv = rgb_to_hsv(x)
        for _ in range(self.config.trials):
            dh = torch.rand(len(x), generator=generator, device=generator.device).to(x.device)
            ds = (torch.rand(len(x), generator=generator, device=generator.device) * 2 - 1).to(x.device)
            alive = ok.nonzero().squeeze(1)
            if len(alive) == 0:
                break
            ok[alive] = predict(model, self.shift_hsv(hsv[alive], dh[alive], ds[alive])) == y[alive]
        return {"": ok}
