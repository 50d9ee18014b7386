"""The self-trained stylizer: a CIFAR encoder trained for classification, then a decoder trained with
AdaIN's content and style losses plus pixel reconstruction; cached on disk by recipe and data."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from benchmark import checkpoint
from benchmark.data import augment, cache_dir, to_float
from benchmark.provenance import config_hash
from benchmark.stylizer.adain import Stylizer, StylizerError, adain, mean_std
from benchmark.stylizer.networks import CifarDecoder, CifarEncoder

log = logging.getLogger("defense_bench")


@dataclass(frozen=True)
class StylizerRecipe:
    """How the self-trained stylizer is made (all of it enters the cache key).

    encoder_*: classification training of the encoder (one-cycle SGD, as the benchmark's trainer).
    decoder_*: Adam training of the decoder; ``style_weight`` λ = 10 is AdaIN's default (train.py of the
    reference implementation), ``pixel_weight`` weighs the pixel reconstruction loss (Li et al. 2017 use
    pixel + feature reconstruction); ``n_train`` limits the images used (``None``: all).
    """

    encoder_epochs: int = 2
    encoder_batch: int = 256
    encoder_lr: float = 0.2
    decoder_steps: int = 1200
    decoder_batch: int = 64
    decoder_lr: float = 2e-3
    style_weight: float = 10.0
    content_weight: float = 1.0
    pixel_weight: float = 50.0
    n_train: int | None = None
    seed: int = 0
    architecture: int = 1  # bump when CifarEncoder / CifarDecoder change: old caches no longer match


RECIPES = {
    "standard": StylizerRecipe(),
    # the smoke budget and the tests: seconds, and recognisable only as a smear
    "tiny": StylizerRecipe(encoder_epochs=1, decoder_steps=30, decoder_batch=32, n_train=2048),
}


def recipe_for_budget(budget_name: str) -> str:
    """The smoke budget gets the tiny recipe (a few seconds); every other budget the standard one."""
    return "tiny" if budget_name == "smoke" else "standard"


# Stylizers committed with the published board: a fresh clone continues the published run without
# training the stylizer again (searched after the cache).
PUBLISHED_DIR = Path(__file__).resolve().parents[2] / "leaderboard" / "stylizers"



def _cached(name: str) -> Path | None:
    for d in (cache_dir(), PUBLISHED_DIR):
        if (d / name).is_file():
            return d / name
    return None


def data_fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    h = hashlib.sha256(x.cpu().contiguous().numpy().tobytes())
    h.update(y.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_path(recipe: StylizerRecipe, fingerprint: str) -> Path:
    return cache_dir() / f"stylizer-{config_hash(dataclasses.asdict(recipe))[:12]}-{fingerprint}.pt"


def style_loss(out: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
    """AdaIN's style loss: Σ over layers of ‖μ(φ(out)) − μ(φ(s))‖² + ‖σ(φ(out)) − σ(φ(s))‖² (mean squared)."""
    loss = out[0].new_zeros(())
    for a, b in zip(out, target, strict=True):
        (am, asd), (bm, bsd) = mean_std(a), mean_std(b)
        loss = loss + F.mse_loss(am, bm) + F.mse_loss(asd, bsd)
    return loss


def _train_encoder(recipe: StylizerRecipe, x: torch.Tensor, y: torch.Tensor, dev: torch.device,
                   progress: bool, bf16: bool) -> tuple[CifarEncoder, float]:
    torch.manual_seed(recipe.seed)
    enc = CifarEncoder().to(dev, memory_format=torch.channels_last)
    opt = torch.optim.SGD(enc.parameters(), lr=recipe.encoder_lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    bs = min(recipe.encoder_batch, len(x))
    steps = len(x) // bs
    total = steps * recipe.encoder_epochs
    g = torch.Generator(device=dev).manual_seed(recipe.seed)
    enc.train()
    bar = tqdm(total=total, desc="stylizer: encoder", disable=not progress, leave=False, dynamic_ncols=True)
    for step in range(total):
        if step % steps == 0:
            order = torch.randperm(len(x), generator=g, device=dev)
        t = step / total
        for group in opt.param_groups:  # one-cycle: 25% linear warm-up, linear decay to 0
            group["lr"] = recipe.encoder_lr * (t / 0.25 if t < 0.25 else (1 - t) / 0.75)
        idx = order[(step % steps) * bs:(step % steps + 1) * bs]
        xb = to_float(augment(x[idx], g), channels_last=True)
        with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(enc(xb).float(), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update()
    bar.close()
    return enc.eval().requires_grad_(False), loss.item()


def _train_decoder(recipe: StylizerRecipe, enc: CifarEncoder, x: torch.Tensor, dev: torch.device,
                   progress: bool, bf16: bool) -> CifarDecoder:
    torch.manual_seed(recipe.seed + 1)
    dec = CifarDecoder().to(dev, memory_format=torch.channels_last)
    opt = torch.optim.Adam(dec.parameters(), lr=recipe.decoder_lr)
    g = torch.Generator(device=dev).manual_seed(recipe.seed + 1)
    bs = min(recipe.decoder_batch, len(x) // 2)
    bar = tqdm(range(recipe.decoder_steps), desc="stylizer: decoder", disable=not progress, leave=False,
               dynamic_ncols=True)
    for step in bar:
        for group in opt.param_groups:  # linear decay to a tenth
            group["lr"] = recipe.decoder_lr * (1 - 0.9 * step / recipe.decoder_steps)
        idx = torch.randint(0, len(x), (2 * bs,), generator=g, device=dev)
        both = to_float(augment(x[idx], g), channels_last=True)
        c, s = both[:bs], both[bs:]
        with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                fc, fs = enc.features(c), enc.features(s)
                t = adain(fc[-1].float(), fs[-1].float())
            out = dec(torch.cat([t, fc[-1].float()]))
            stylized, rec = out[:bs], out[bs:]
            f_out = enc.features(stylized)
            loss_c = F.mse_loss(f_out[-1].float(), t)
            loss_s = style_loss([f.float() for f in f_out], [f.float() for f in fs])
            loss_p = F.mse_loss(rec.float(), c)
            loss = recipe.content_weight * loss_c + recipe.style_weight * loss_s + recipe.pixel_weight * loss_p
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress and step % 50 == 49:
            bar.set_postfix(content=f"{loss_c.item():.3f}", style=f"{loss_s.item():.3f}",
                            psnr=f"{-10 * math.log10(max(loss_p.item(), 1e-10)):.1f}")
    return dec.eval().requires_grad_(False)


def self_trained(recipe: StylizerRecipe | str, x_train: torch.Tensor, y_train: torch.Tensor,
                 device: torch.device | str = "cpu", progress: bool = True, bf16: bool = False) -> Stylizer:
    """The stylizer for ``recipe`` trained on uint8 NCHW ``x_train``; from the cache when it was built
    before (with the same recipe and the same images), else trained now (bf16 autocast if ``bf16``, the
    caller's precision) and cached."""
    name = recipe if isinstance(recipe, str) else None
    if name is not None:
        if name not in RECIPES:
            raise StylizerError(f"unknown stylizer recipe {name!r}; known: {', '.join(RECIPES)}")
        recipe = RECIPES[name]
    dev = torch.device(device)
    fingerprint = data_fingerprint(x_train, y_train)
    path = cache_path(recipe, fingerprint)
    if (found := _cached(path.name)) is not None:
        return _load_cached(found).to(dev)
    if recipe.n_train and recipe.n_train < len(x_train):
        pick = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(recipe.seed))[: recipe.n_train]
        x_train, y_train = x_train[pick], y_train[pick]
    x, y = x_train.to(dev), y_train.to(dev)
    log.info("training the AdaIN stylizer (%s recipe; cached at %s)", name or "custom", path)
    t0 = time.perf_counter()
    enc, enc_loss = _train_encoder(recipe, x, y, dev, progress, bf16)
    t_enc = time.perf_counter() - t0
    dec = _train_decoder(recipe, enc, x, dev, progress, bf16)
    seconds = time.perf_counter() - t0
    info = {"name": f"self-trained-{name or 'custom'}", "recipe": dataclasses.asdict(recipe),
            "data_fingerprint": fingerprint, "seconds": seconds, "encoder_seconds": t_enc,
            "encoder_final_loss": enc_loss, "device": str(dev), "key": path.stem}
    checkpoint.save_atomic({"encoder": enc.cpu().state_dict(), "decoder": dec.cpu().state_dict(), "info": info},
                           path)
    log.info("stylizer trained in %.0f s", seconds)
    return _load_cached(path).to(dev)


def _load_cached(path: Path) -> Stylizer:
    state = checkpoint.load(path)
    try:
        enc, dec = CifarEncoder(), CifarDecoder()
        enc.load_state_dict(state["encoder"])
        dec.load_state_dict(state["decoder"])
    except (KeyError, RuntimeError) as e:
        raise StylizerError(f"{path}: not a defense-bench stylizer ({str(e).splitlines()[0][:150]})") from None
    return Stylizer(enc, dec, state["info"])


def find_cached(recipe: str = "standard") -> Path | None:
    """The cached self-trained stylizer of ``recipe`` (newest when several data sets were used), if any."""
    prefix = f"stylizer-{config_hash(dataclasses.asdict(RECIPES[recipe]))[:12]}-"
    for d in (cache_dir(), PUBLISHED_DIR):
        found = sorted(d.glob(f"{prefix}*.pt"), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    return None


def load_cached(path: str | Path) -> Stylizer:
    return _load_cached(Path(path))
