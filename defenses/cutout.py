"""Cutout: one square of zeros per training image."""

from dataclasses import dataclass

import torch

from benchmark.registry import register_defense
from defenses.base import Defense


@dataclass(frozen=True)
class CutoutConfig:
    size: int = 16  # px side of the hole; the CIFAR-10 value of DeVries & Taylor (2017)


@register_defense("cutout")
class Cutout(Defense):
    """Cutout (DeVries & Taylor 2017, arXiv:1708.04552): a ``size``×``size`` hole of zeros per image.

    The hole's centre is uniform over the image and the hole is clipped at the borders, as in the
    authors' code, so a hole near an edge covers less than ``size``² pixels. Labels are unchanged.
    """

    paper = "DeVries & Taylor 2017, Improved Regularization of CNNs with Cutout, arXiv:1708.04552"
    Config = CutoutConfig

    def transform_batch(self, x, y, generator):
        n, _, h, w = x.shape
        cy = torch.randint(0, h, (n, 1, 1), generator=generator, device=x.device)
        cx = torch.randint(0, w, (n, 1, 1), generator=generator, device=x.device)
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        half = self.config.size // 2
        in_rows = (rows >= cy - half) & (rows < cy + self.config.size - half)
        hole = in_rows & (cols >= cx - half) & (cols < cx + self.config.size - half)
        return x.masked_fill(hole[:, None], 0.0), y
