"""Batched image primitives for the CIFAR-10-C corruptions, on (N, 3, H, W) float tensors in [0, 1].

Each reproduces the library call that Hendrycks & Dietterich's make_cifar_c.py makes on one image
(scikit-image's ``gaussian``, SciPy's ``zoom`` and ``map_coordinates``, OpenCV's ``filter2D`` and
``warpAffine``, ImageMagick's motion blur, PIL's box resize), but on a whole batch at once, with every
random draw taken from a seeded ``torch.Generator``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F


def uniform(generator: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64) * (high - low) + low


def normal(generator: torch.Generator, shape: tuple[int, ...], loc: float, scale: float) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float64) * scale + loc


def pad_index(n: int, pad: int, mode: str, device: torch.device) -> torch.Tensor:
    """Source index of each position of a length-``n`` axis padded by ``pad`` on both sides.

    Modes use SciPy's names: ``nearest`` (edge repeated), ``reflect`` (d c b a | a b c d, half-sample
    symmetric) and ``mirror`` (d c b | a b c d, OpenCV's default BORDER_REFLECT_101).
    """
    i = torch.arange(-pad, n + pad, device=device)
    if mode == "nearest":
        return i.clamp(0, n - 1)
    period = 2 * n if mode == "reflect" else 2 * n - 2
    i = i % period
    return torch.where(i < n, i, (period - 1 - i) if mode == "reflect" else (period - i))


def pad2d(x: torch.Tensor, pad: int, mode: str) -> torch.Tensor:
    rows = pad_index(x.shape[-2], pad, mode, x.device)
    cols = pad_index(x.shape[-1], pad, mode, x.device)
    return x[..., rows, :][..., cols]


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """SciPy's Gaussian kernel: radius ``int(truncate · σ + 0.5)``, normalised to sum 1."""
    radius = int(truncate * float(sigma) + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> torch.Tensor:
    """scikit-image ``gaussian(x, sigma, mode=mode, truncate=truncate)`` over the two spatial axes of
    (N, C, H, W) or (N, H, W)."""
    k = gaussian_kernel1d(sigma, truncate).to(x)
    r = (len(k) - 1) // 2
    if r == 0:
        return x.clone()
    squeeze = x.dim() == 3
    y = x[:, None] if squeeze else x
    n, c, h, w = y.shape
    y = pad2d(y.reshape(n * c, 1, h, w), r, mode)
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = F.conv2d(y, k.view(1, 1, -1, 1))
    y = y.reshape(n, c, h, w)
    return y[:, 0] if squeeze else y


def filter2d(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """OpenCV ``filter2D(x, -1, kernel)`` per channel (correlation, BORDER_REFLECT_101)."""
    k = torch.as_tensor(kernel, dtype=x.dtype, device=x.device)
    r = k.shape[0] // 2
    n, c, h, w = x.shape
    y = pad2d(x.reshape(n * c, 1, h, w), r, "mirror")
    return F.conv2d(y, k[None, None]).reshape(n, c, h, w)


def zoom_center(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """make_cifar_c's ``clipped_zoom``: crop the centre ⌈H/zoom⌉ pixels, zoom them with SciPy's
    order-1 ``zoom`` (bilinear with aligned corners, output ``round(ch·zoom)``), trim back to H."""
    h = x.shape[-1]
    ch = int(math.ceil(h / zoom))
    top = (h - ch) // 2
    crop = x[..., top:top + ch, top:top + ch]
    out = int(round(ch * zoom))
    squeeze = crop.dim() == 3
    y = F.interpolate(crop[:, None] if squeeze else crop, size=(out, out), mode="bilinear", align_corners=True)
    y = y[:, 0] if squeeze else y
    trim = (out - h) // 2
    return y[..., trim:trim + h, trim:trim + h]


def motion_blur(x: torch.Tensor, radius: float, sigma: float, angle_deg: torch.Tensor) -> torch.Tensor:
    """ImageMagick's ``MotionBlurImage(radius, sigma, angle)`` on (N, C, H, W), one angle per image.

    ImageMagick blurs along a one-sided line: ``2⌈radius⌉ + 1`` taps with Gaussian weights
    exp(−i² / 2σ²) (normalised), tap i at offset (round(i·cos θ), round(i·sin θ)), edge pixels repeated.
    """
    width = int(2 * math.ceil(radius) + 1)
    i = torch.arange(width, dtype=torch.float64, device=x.device)
    weights = torch.exp(-(i**2) / (2 * sigma**2))
    weights = (weights / weights.sum()).to(x.dtype)
    theta = torch.deg2rad(angle_deg.to(torch.float64)).to(x.device)
    # ceil(v - 0.5): ImageMagick's rounding of the offsets
    ox = torch.ceil(i[None] * torch.cos(theta)[:, None] - 0.5).long()
    oy = torch.ceil(i[None] * torch.sin(theta)[:, None] - 0.5).long()
    n, c, h, w = x.shape
    ar = torch.arange(n, device=x.device)[:, None, None, None]
    ch = torch.arange(c, device=x.device)[None, :, None, None]
    rows0 = torch.arange(h, device=x.device)[None, :]
    cols0 = torch.arange(w, device=x.device)[None, :]
    out = torch.zeros_like(x)
    for t in range(width):
        rows = (rows0 + oy[:, t:t + 1]).clamp(0, h - 1)
        cols = (cols0 + ox[:, t:t + 1]).clamp(0, w - 1)
        out += weights[t] * x[ar, ch, rows[:, None, :, None], cols[:, None, None, :]]
    return out


def plasma_fractal(n: int, generator: torch.Generator, mapsize: int = 32, wibbledecay: float = 3.0) -> torch.Tensor:
    """make_cifar_c's diamond-square height maps, ``n`` at once: (n, mapsize, mapsize) in [0, 1]."""
    m = torch.zeros(n, mapsize, mapsize, dtype=torch.float64, device=generator.device)
    step, wibble = mapsize, 100.0

    def wibbled_mean(a: torch.Tensor) -> torch.Tensor:
        return a / 4 + wibble * uniform(generator, tuple(a.shape), -wibble, wibble)

    while step >= 2:
        half = step // 2
        corner = m[:, 0::step, 0::step]
        acc = corner + torch.roll(corner, -1, dims=1)
        acc = acc + torch.roll(acc, -1, dims=2)
        m[:, half::step, half::step] = wibbled_mean(acc)
        dr = m[:, half::step, half::step]
        ul = m[:, 0::step, 0::step]
        lt = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        m[:, 0::step, half::step] = wibbled_mean(lt)
        tt = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        m[:, half::step, 0::step] = wibbled_mean(tt)
        step //= 2
        wibble /= wibbledecay
    m = m - m.amin((1, 2), keepdim=True)
    return m / m.amax((1, 2), keepdim=True)


def affine_warp_reflect101(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """OpenCV ``warpAffine(x, M, (W, H), borderMode=BORDER_REFLECT_101)`` (bilinear), one 2×3 M per image
    mapping source to destination pixel coordinates."""
    n, _, h, w = x.shape
    full = torch.zeros(n, 3, 3, dtype=torch.float64, device=x.device)
    full[:, :2] = matrices.to(torch.float64)
    full[:, 2, 2] = 1
    inv = torch.linalg.inv(full)[:, :2]  # destination → source
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=x.device),
                            torch.arange(w, dtype=torch.float64, device=x.device), indexing="ij")
    pts = torch.stack((xs, ys, torch.ones_like(xs)), -1).view(1, -1, 3)
    src = pts @ inv.transpose(1, 2)  # (n, h*w, 2) source x, y
    return sample(x, src[..., 1].view(n, h, w), src[..., 0].view(n, h, w), corners="pixel-centres")


def sample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, corners: str) -> torch.Tensor:
    """Bilinear sample of (N, C, H, W) at pixel coordinates, reflecting outside the image.

    ``corners="pixel-centres"`` reflects about the outer pixel centres (OpenCV BORDER_REFLECT_101);
    ``"pixel-edges"`` about the image edges (SciPy ``mode="reflect"``).
    """
    n, _, h, w = x.shape
    aligned = corners == "pixel-centres"
    if aligned:
        gx, gy = 2 * cols / (w - 1) - 1, 2 * rows / (h - 1) - 1
    else:
        gx, gy = (2 * cols + 1) / w - 1, (2 * rows + 1) / h - 1
    grid = torch.stack((gx, gy), -1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=aligned)


def box_resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """PIL's ``Image.BOX`` resampling along one axis as an (n_out, n_in) matrix (exact area weights),
    obtained from PIL itself on float ('F') basis images."""
    from PIL import Image

    cols = []
    for j in range(n_in):
        e = np.zeros((1, n_in), np.float32)
        e[0, j] = 1
        cols.append(np.asarray(Image.fromarray(e, mode="F").resize((n_out, 1), Image.BOX))[0])
    return torch.from_numpy(np.stack(cols, 1).astype(np.float64))


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """PIL JPEG encode + decode at ``quality`` (the library call of make_cifar_c), image by image."""
    import io

    from PIL import Image

    arr = (x.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for im in arr:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, "JPEG", quality=quality)
        buf.seek(0)
        out.append(np.asarray(Image.open(buf).convert("RGB")))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x) / 255.0


@functools.cache
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    import cv2

    lim = np.arange(-8, 8 + 1) if radius <= 8 else np.arange(-radius, radius + 1)
    ksize = (3, 3) if radius <= 8 else (5, 5)
    xx, yy = np.meshgrid(lim, lim)
    d = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    d /= d.sum()
    return cv2.GaussianBlur(d, ksize=ksize, sigmaX=alias_blur)


@functools.cache
def box_matrix(n_in: int, n_out: int) -> torch.Tensor:
    return box_resize_matrix(n_in, n_out)


def frost_texture(n: int, g: torch.Generator, size: int = 64) -> torch.Tensor:
    """Procedural stand-in for the original frost photographs: (n, 3, size, size) in [0, 1]."""
    base = plasma_fractal(n, g, mapsize=size, wibbledecay=1.8)
    crystals = (uniform(g, (n, size, size), 0, 1) > 0.985).double()
    angle = uniform(g, (n,), 0, 360)
    streaks = motion_blur(crystals[:, None], 6, 4, angle)[:, 0] * 12
    tex = (0.55 * base + 0.45 * gaussian_blur(streaks, 0.6)).clamp(0, 1)
    tint = torch.tensor([0.82, 0.9, 1.0], dtype=tex.dtype, device=tex.device).view(1, 3, 1, 1)
    return tex[:, None] * tint
