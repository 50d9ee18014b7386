"""Shape bias on cue-conflict images (content class ≠ style class), once a stylizer is available."""

from attacks.base import ThreatModel, ThreatUnavailable
from benchmark.registry import register_threat


@register_threat("shape-bias")
class ShapeBias(ThreatModel):
    """Shape bias = shape decisions / (shape + texture decisions) on cue-conflict images (Geirhos et al.
    2019, arXiv:1811.12231). Cue-conflict images come from the AdaIN stylizer of the Stylized defense;
    until this installation has one, the threat reports itself unavailable instead of failing the run."""

    paper = "Geirhos et al. 2019, ImageNet-trained CNNs are biased towards texture, arXiv:1811.12231"

    def outcomes(self, model, x, y, generator):
        raise ThreatUnavailable("needs the AdaIN stylizer of the stylized defense, which is not built yet")
