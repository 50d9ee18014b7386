"""Shape bias on cue-conflict images (content class ≠ style class), made by the AdaIN stylizer."""

from __future__ import annotations

from dataclasses import dataclass

from attacks.base import ThreatModel, ThreatUnavailable, predict
from benchmark import stylizer as st
from benchmark.component import check_fields
from benchmark.data import cache_dir
from benchmark.registry import register_threat


@dataclass(frozen=True)
class ShapeBiasConfig:
    recipe: str = "standard"  # which cached self-trained stylizer makes the cue-conflict images
    alpha: float = 1.0  # AdaIN α: full stylization, as Geirhos et al.'s cue-conflict images
    n_images: int = 2000  # seeded subset of the test images

    def __post_init__(self) -> None:
        check_fields(self, "shape-bias", alpha="in [0, 1]", n_images="> 0")


@register_threat("shape-bias")
class ShapeBias(ThreatModel):
    """Cue-conflict evaluation (Geirhos et al. 2019, arXiv:1811.12231): every test image is stylized
    (α = 1) with a test image of another class. The accuracy is the share of shape decisions (content
    label); part ``texture`` is the share of texture decisions (style label); shape bias =
    shape / (shape + texture), 1 for a purely shape-based classifier. Needs the cached self-trained
    stylizer (built by the first stylized/shape-texture run or ``defense-bench stylize``); without one
    the threat reports itself unavailable instead of failing the run."""

    paper = "Geirhos et al. 2019, ImageNet-trained CNNs are biased towards texture, arXiv:1811.12231"
    Config = ShapeBiasConfig

    def outcomes(self, model, x, y, generator):
        path = st.find_cached(self.config.recipe)
        if path is None:
            raise ThreatUnavailable(f"no cached {self.config.recipe!r} stylizer in {cache_dir()}: build one "
                                    "with `defense-bench stylize` (or run the stylized defense)")
        stylizer = st.load_cached(path).to(x.device)
        style_idx = st.other_class_indices(y, y, generator)
        cue = stylizer.stylize(x, x[style_idx], self.config.alpha)
        pred = predict(model, cue)
        return {"": pred == y, "texture": pred == y[style_idx]}


def shape_bias(shape: float, texture: float) -> float:
    """shape / (shape + texture) decisions; NaN when neither occurs."""
    return shape / (shape + texture) if shape + texture > 0 else float("nan")
