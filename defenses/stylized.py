"""Stylized training: train on AdaIN-stylized images with their content label."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark import stylizer as st
from benchmark.component import check_fields
from benchmark.registry import register_defense
from benchmark.stylizer import other_class_indices
from defenses.base import Defense, TrainingSet

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def resolve_stylizer(spec: str, data: TrainingSet, vgg_sha256: str = "", decoder_sha256: str = "") -> st.Stylizer:
    """``auto`` (the self-trained recipe of the budget), a recipe name, or ``adain:<dir>`` (the AdaIN
    authors' weights, checked against the two SHA-256 digests)."""
    if spec.startswith("adain:"):
        if not (vgg_sha256 and decoder_sha256):
            raise st.StylizerError("stylizer=adain:<dir> needs vgg_sha256=… and decoder_sha256=… (the digests "
                                   "of vgg_normalised.pth and decoder.pth you downloaded)")
        return st.load_pretrained(spec[len("adain:"):], vgg_sha256, decoder_sha256).to(data.images.device)
    recipe = st.recipe_for_budget(data.budget) if spec == "auto" else spec
    return st.self_trained(recipe, data.images, data.labels, data.images.device, data.progress, data.bf16)


def stylizer_facts(stylizer: st.Stylizer) -> dict:
    """What an entry records of its stylizer: its name, cache key and build time (counted as compute)."""
    info = stylizer.info
    return {"stylizer": info["name"], "stylizer_key": info.get("key", info.get("vgg_sha256", "")),
            "stylizer_seconds": float(info.get("seconds", 0.0))}


def load_style_folder(folder: str | Path) -> torch.Tensor:
    """Every image in ``folder`` (recursively), RGB, resized to 32×32 → uint8 NCHW."""
    from PIL import Image

    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"style_dir {folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    imgs = [np.asarray(Image.open(p).convert("RGB").resize((32, 32), Image.BICUBIC)) for p in paths]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class StylizedConfig:
    alpha: float = 1.0  # AdaIN content/style trade-off; Stylized-ImageNet uses α = 1 (Geirhos et al. 2019)
    fraction: float = 1.0  # share of each batch stylized (SIN alone: 1.0; SIN+IN mixes)
    style_dir: str = ""  # folder of style images (paintings, textures); empty: training images of another class
    stylizer: str = "auto"  # auto (self-trained recipe of the budget), a recipe name, or adain:<dir>
    vgg_sha256: str = ""  # for stylizer=adain:<dir>
    decoder_sha256: str = ""

    def __post_init__(self) -> None:
        check_fields(self, "stylized", alpha="in [0, 1]", fraction="in [0, 1]")


@register_defense("stylized")
class Stylized(Defense):
    """Stylized training (Geirhos et al. 2019, *ImageNet-trained CNNs are biased towards texture*,
    arXiv:1811.12231): each training image is replaced by its AdaIN stylization (α = 1.0) with a style
    image, keeping the content label, so texture stops predicting the class. Stylized-ImageNet used
    paintings (Kaggle *Painter by Numbers*) as styles; offline, the default styles are training images
    of another class. ``fraction`` < 1 stylizes only that share of each batch."""

    paper = "Geirhos et al. 2019, ImageNet-trained CNNs are biased towards texture, arXiv:1811.12231"
    Config = StylizedConfig

    def __init__(self, config: StylizedConfig | None = None):
        super().__init__(config)
        self._stylizer: st.Stylizer | None = None
        self._bf16 = False  # set by prepare() from the trainer's precision

    def prepare(self, data: TrainingSet) -> dict:
        c = self.config
        self._stylizer = resolve_stylizer(c.stylizer, data, c.vgg_sha256, c.decoder_sha256)
        self._bf16 = data.bf16
        if c.style_dir:
            self._styles, self._style_labels = load_style_folder(c.style_dir).to(data.images.device), None
        else:
            self._styles, self._style_labels = data.images, data.labels
        return stylizer_facts(self._stylizer)

    def transform_batch(self, x, y, generator):
        if self._stylizer is None:
            raise RuntimeError("stylized: prepare() was not called (the trainer calls it before training)")
        k = round(self.config.fraction * len(x))
        if k == 0:
            return x, y
        if self._style_labels is None:
            idx = torch.randint(0, len(self._styles), (k,), generator=generator, device=generator.device)
        else:
            idx = other_class_indices(self._style_labels, y[:k], generator)
        style = self._styles[idx.to(self._styles.device)].to(x.device).float().div_(255)
        x = x.clone()
        x[:k] = self._stylizer.stylize(x[:k], style, self.config.alpha, bf16=self._bf16)
        return x, y
