"""Shape-Texture debiased training: clean images plus cue-conflict images with a two-label target."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmark import stylizer as st
from benchmark.component import check_fields
from benchmark.registry import register_defense
from defenses.base import Defense, TrainingSet, one_hot
from defenses.stylized import resolve_stylizer, stylizer_facts


@dataclass(frozen=True)
class ShapeTextureConfig:
    gamma: float = 0.8  # weight of the content (shape) label; 1 − γ goes to the style (texture) label
    alpha: float = 0.5  # AdaIN α of the cue-conflict images (Li et al. 2021)
    stylizer: str = "auto"  # auto (self-trained recipe of the budget), a recipe name, or adain:<dir>
    vgg_sha256: str = ""
    decoder_sha256: str = ""

    def __post_init__(self) -> None:
        check_fields(self, "shape-texture", gamma="in [0, 1]", alpha="in [0, 1]")


@register_defense("shape-texture")
class ShapeTexture(Defense):
    """Shape-Texture debiased training (Li et al. 2021, *Shape-Texture Debiased Neural Network
    Training*, ICLR, arXiv:2010.05981).

    Each batch of n clean images is extended by n cue-conflict images: image i stylized (AdaIN, α = 0.5)
    with image perm(i) of the same batch. Their target is γ·onehot(y_i) + (1 − γ)·onehot(y_perm(i)) with
    γ = 0.8, so the trainer's soft-target cross-entropy equals γ·CE(content) + (1 − γ)·CE(style) exactly
    (cross-entropy is linear in the target). The loss is the mean over all 2n images, i.e. half the
    authors' sum of the clean and the cue-conflict loss (a learning-rate scale). Not built: their
    auxiliary batch-norm for the stylized images (``--mixbn``); both halves share the batch norms.
    The doubled batch and the stylizer's passes are measured in the entry's training time.
    """

    paper = "Li et al. 2021, Shape-Texture Debiased Neural Network Training, arXiv:2010.05981"
    Config = ShapeTextureConfig

    def __init__(self, config: ShapeTextureConfig | None = None):
        super().__init__(config)
        if not 0.0 <= self.config.gamma <= 1.0 or not 0.0 <= self.config.alpha <= 1.0:
            raise ValueError(f"shape-texture: gamma and alpha must lie in [0, 1], got {self.config}")
        self._stylizer: st.Stylizer | None = None
        self._bf16 = False  # set by prepare() from the trainer's precision

    def prepare(self, data: TrainingSet) -> dict:
        c = self.config
        self._stylizer = resolve_stylizer(c.stylizer, data, c.vgg_sha256, c.decoder_sha256)
        self._bf16 = data.bf16
        return stylizer_facts(self._stylizer)

    def cue_conflict(self, x: torch.Tensor, y: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``x`` stylized with ``x[perm]`` and their target γ·onehot(y) + (1 − γ)·onehot(y[perm])."""
        t = one_hot(y)
        g = self.config.gamma
        cue = self._stylizer.stylize(x, x[perm], self.config.alpha, bf16=self._bf16)
        return cue, g * t + (1 - g) * t[perm]

    def transform_batch(self, x, y, generator):
        if self._stylizer is None:
            raise RuntimeError("shape-texture: prepare() was not called (the trainer calls it before training)")
        perm = torch.randperm(len(x), generator=generator, device=generator.device).to(x.device)
        xc, tc = self.cue_conflict(x, y, perm)
        return torch.cat([x, xc.contiguous(memory_format=torch.channels_last) if x.is_contiguous(
            memory_format=torch.channels_last) else xc]), torch.cat([one_hot(y), tc])
