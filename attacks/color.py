"""RGB ↔ HSV on batched tensors in [0, 1] (the conventions of scikit-image's rgb2hsv / hsv2rgb).

Hand-written rather than a dependency: torchvision has no HSV conversion and kornia would be a new
dependency for 30 lines.
"""

from __future__ import annotations

import torch


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB → HSV, each channel in [0, 1]; hue 0 and saturation 0 where undefined."""
    r, g, b = rgb.unbind(1)
    v, _ = rgb.max(1)
    delta = v - rgb.min(1).values
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    d = delta.clamp_min(1e-12)
    h = torch.where(v == r, (g - b) / d, torch.where(v == g, 2.0 + (b - r) / d, 4.0 + (r - g) / d))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, v), 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) HSV in [0, 1] → RGB."""
    h, s, v = hsv.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    i = i.long() % 6
    r = torch.stack((v, q, p, p, t, v), 1).gather(1, i[:, None]).squeeze(1)
    g = torch.stack((t, v, v, q, p, p), 1).gather(1, i[:, None]).squeeze(1)
    b = torch.stack((p, p, t, v, v, q), 1).gather(1, i[:, None]).squeeze(1)
    return torch.stack((r, g, b), 1)
