"""Cutout: one square hole per training image, filled with the dataset's mean colour."""

from dataclasses import dataclass

import torch

from benchmark.component import check_fields
from benchmark.data import MEAN
from benchmark.registry import register_defense
from defenses.base import Defense

FILLS = ("mean", "zero")


@dataclass(frozen=True)
class CutoutConfig:
    size: int = 16  # px side of the hole; the CIFAR-10 value of DeVries & Taylor (2017)
    # "mean": the per-channel CIFAR-10 mean, what the authors' hole is (they cut after normalisation, so their
    # zeros are the mean colour); "zero": a black square on [0, 1] images, which is the occlusion threat itself
    fill: str = "mean"

    def __post_init__(self) -> None:
        check_fields(self, "cutout", size="> 0")
        if self.fill not in FILLS:
            raise ValueError(f"cutout: fill must be one of {', '.join(FILLS)}, got {self.fill!r}")


@register_defense("cutout")
class Cutout(Defense):
    """Cutout (DeVries & Taylor 2017, arXiv:1708.04552): a ``size``×``size`` hole per image (size 16 on CIFAR-10).

    The hole's centre is uniform over the image and the hole is clipped at the borders, as in the
    authors' code, so a hole near an edge covers less than ``size``² pixels. The authors cut normalised
    images, so their hole holds the dataset's mean colour; ``fill="mean"`` (default) does the same on our
    [0, 1] images. ``fill="zero"`` paints black, which is exactly the occlusion threat's patch: a defense
    trained on its own test threat. Labels are unchanged.
    """

    paper = "DeVries & Taylor 2017, Improved Regularization of CNNs with Cutout, arXiv:1708.04552"
    Config = CutoutConfig

    def transform_batch(self, x, y, generator):
        n, c, h, w = x.shape
        cy = torch.randint(0, h, (n, 1, 1), generator=generator, device=x.device)
        cx = torch.randint(0, w, (n, 1, 1), generator=generator, device=x.device)
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        half = self.config.size // 2
        in_rows = (rows >= cy - half) & (rows < cy + self.config.size - half)
        hole = (in_rows & (cols >= cx - half) & (cols < cx + self.config.size - half))[:, None]
        if self.config.fill == "zero":
            return x.masked_fill(hole, 0.0), y
        fill = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
        return torch.where(hole, fill, x), y
