"""AdaIN (Huang & Belongie 2017, arXiv:1703.06868): the feature statistics transfer, the frozen
encoder → AdaIN → decoder module, and how a style image is drawn (another class)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5  # added to the variance, as the AdaIN reference code's calc_mean_std


class StylizerError(ValueError):
    """A stylizer could not be loaded; one line naming the file and the problem."""


def mean_std(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and standard deviation of NCHW features, shaped (N, C, 1, 1)."""
    v = f.flatten(2)
    return v.mean(-1)[..., None, None], (v.var(-1, unbiased=False) + EPS).sqrt()[..., None, None]


def adain(content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """AdaIN(c, s) = σ(s)·(c − μ(c))/σ(c) + μ(s), blended as α·AdaIN + (1 − α)·c."""
    cm, cs = mean_std(content)
    sm, ss = mean_std(style)
    return alpha * ((content - cm) / cs * ss + sm) + (1 - alpha) * content


class Stylizer(nn.Module):
    """encoder → AdaIN → decoder on [0, 1] NCHW batches; frozen, eval mode. ``info`` says what it is."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, info: dict):
        super().__init__()
        self.encoder, self.decoder, self.info = encoder.eval(), decoder.eval(), dict(info)
        self.requires_grad_(False)

    @property
    def name(self) -> str:
        return self.info["name"]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder.features(x)

    @torch.no_grad()
    def stylize(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0,
                batch: int = 500, bf16: bool = False) -> torch.Tensor:
        """Content images restyled with the style images (same count), in [0, 1]; ``bf16``: autocast, as the
        caller's precision says (the trainer's, for a defense; never for a threat, which is fp32)."""
        out = []
        for i in range(0, len(content), batch):
            c, s = content[i:i + batch], style[i:i + batch]
            autocast = torch.autocast(c.device.type, torch.bfloat16, enabled=bf16)
            with autocast:
                t = adain(self.features(c)[-1].float(), self.features(s)[-1].float(), alpha)
                out.append(self.decoder(t).float().clamp_(0, 1))
        return torch.cat(out)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.features(x)[-1]).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1] (over the whole batch)."""
    mse = F.mse_loss(a.float(), b.float()).item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)



def other_class_indices(labels: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each label in ``y``, the index of a uniformly drawn image of ``labels`` of a different class
    (rejection sampling: redraw where the classes agree)."""
    dev = generator.device
    idx = torch.randint(0, len(labels), y.shape, generator=generator, device=dev).to(labels.device)
    for _ in range(1000):
        same = labels[idx] == y.to(labels.device)
        if not same.any():
            return idx
        redraw = torch.randint(0, len(labels), (int(same.sum()),), generator=generator, device=dev)
        idx[same] = redraw.to(labels.device)
    raise ValueError("no image of another class to take the style from (all labels are equal)")
