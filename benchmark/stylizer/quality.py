"""Judging a stylizer: how far stylized images move from their content and toward their style, a
classifier's accuracy on them, and a PNG grid to look at."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.stylizer.adain import Stylizer, mean_std, other_class_indices, psnr


def quality(stylizer: Stylizer, x: torch.Tensor, y: torch.Tensor, judge: nn.Module | None = None,
            seed: int = 0) -> dict[str, float]:
    """Objective checks on [0, 1] test images ``x``: reconstruction PSNR of decoder(encoder(x)); for
    α = 1 stylizations with an image of another class, the distance of the output's encoder feature
    statistics (mean and std per channel, every encoder layer) to the style's and to the content's; with
    a ``judge`` classifier, its accuracy on the stylizations against the content and the style label."""
    g = torch.Generator().manual_seed(seed)

    idx = other_class_indices(y, y, g)
    out = stylizer.stylize(x, x[idx])
    rec = torch.cat([stylizer.reconstruct(x[i:i + 500]) for i in range(0, len(x), 500)])

    def stats_distance(a: torch.Tensor, b: torch.Tensor) -> float:
        d = 0.0
        for fa, fb in zip(stylizer.features(a), stylizer.features(b), strict=True):
            (am, asd), (bm, bsd) = mean_std(fa), mean_std(fb)
            d += (F.mse_loss(am, bm) + F.mse_loss(asd, bsd)).item()
        return d

    report = {"n": len(x), "psnr_reconstruction_db": psnr(rec, x),
              "stats_distance_to_style": stats_distance(out[:1000], x[idx][:1000]),
              "stats_distance_to_content": stats_distance(out[:1000], x[:1000])}
    if judge is not None:
        pred = torch.cat([judge(out[i:i + 500]).argmax(1) for i in range(0, len(out), 500)])
        clean = torch.cat([judge(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
        report |= {"judge_clean_accuracy": (clean == y).float().mean().item(),
                   "judge_accuracy_content_label": (pred == y).float().mean().item(),
                   "judge_accuracy_style_label": (pred == y[idx]).float().mean().item()}
    return report


@torch.no_grad()
def save_grid(stylizer: Stylizer, x: torch.Tensor, y: torch.Tensor, path: str | Path, n: int = 10,
              seed: int = 0, scale: int = 3) -> Path:
    """A PNG of ``n`` columns: content, style (another class), AdaIN α = 1, α = 0.5, reconstruction."""
    from torchvision.utils import make_grid, save_image


    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(x), generator=g)[:n]
    c, s = x[pick], x[other_class_indices(y, y[pick], g)]
    rows = [c, s, stylizer.stylize(c, s, 1.0), stylizer.stylize(c, s, 0.5), stylizer.reconstruct(c)]
    grid = make_grid(torch.cat(rows), nrow=n, padding=2, pad_value=1.0)
    grid = F.interpolate(grid[None], scale_factor=scale, mode="nearest")[0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)
    return path
